// What both tiers share: ava runs the compiled tests (tsc first), two files at a time.
module.exports = {
  typescript: { rewritePaths: { 'test/': 'dist/test/' }, compile: false },
  timeout: '60s',
  concurrency: 2,
};

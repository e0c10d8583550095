#!/usr/bin/env node
// The line limit Biome's formatter cannot enforce (it never breaks a string or a
// comment): no line of TypeScript over LIMIT characters. Run by `npm run lint`.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');

const LIMIT = 180;
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.cjs'], { encoding: 'utf8' })
  .split('\n')
  .filter((f) => f !== '' && fs.existsSync(f));
const over = [];
for (const file of files) {
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.length > LIMIT) over.push(`${file}:${i + 1}: ${line.length} characters`);
    });
}
if (over.length > 0) {
  process.stderr.write(`${over.join('\n')}\n${over.length} line(s) over ${LIMIT} characters: break the string or the comment.\n`);
  process.exit(1);
}

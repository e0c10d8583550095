/**
 * Import direction, enforced: `npm run lint:deps` (dependency-cruiser).
 *
 * Direction: cli → commands, projections, infra → ports → domain; cli/commands/serve → http → (what cli uses).
 *
 * The domain is pure (fp-ts and io-ts only); ports describe the outside world
 * in domain terms; commands and projections talk to ports, never to adapters;
 * only src/infra touches the database, EventStoreDB and JOSE libraries.
 * See README.md, "Layout", and docs/adr.
 *
 * Paths are relative to the repository root. npm packages resolve to
 * `node_modules/<name>/…`; node builtins to their bare name (`fs`, `crypto`).
 * Type-only imports count (tsPreCompilationDeps): a type is a dependency too.
 */

/** The npm packages that wrap I/O: used through a port, wrapped in src/infra. */
const ADAPTER_LIBRARIES = '^node_modules/(@types/)?(node-jose|better-sqlite3|@eventstore/db-client)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    // ─── Shape of the graph ───────────────────────────────────────────────
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'This module is part of an import cycle. Break it by moving the shared piece one layer down ' +
        '(a type into src/domain, a function into its own module) or by injecting it as a parameter.',
      from: {},
      to: { circular: true },
    },

    // ─── src/domain: pure ─────────────────────────────────────────────────
    {
      name: 'domain-imports-only-fp-ts-and-io-ts',
      severity: 'error',
      comment:
        'src/domain is pure: it may import src/domain, fp-ts and io-ts (and their subpaths), nothing else — ' +
        'no node builtin, no other npm package, no other src folder. Inject what it needs ' +
        '(a digest, a clock, ids) as a parameter, or move the code to src/commands or src/infra.',
      from: { path: '^src/domain/' },
      to: {
        // src/ports has its own rule below, with its own message.
        pathNot: ['^src/domain/', '^src/ports/', '^node_modules/(fp-ts|io-ts)/'],
      },
    },
    {
      name: 'domain-not-to-ports',
      severity: 'error',
      comment:
        'src/ports imports src/domain, so src/domain must not import src/ports (a folder-level cycle). ' +
        'Move the type the domain needs into src/domain and re-export it from the port.',
      from: { path: '^src/domain/' },
      to: { path: '^src/ports/' },
    },

    // ─── src/ports: interfaces in domain terms ────────────────────────────
    {
      name: 'ports-import-only-domain-and-types',
      severity: 'error',
      comment:
        'src/ports describes the outside world in domain terms: it may import src/domain, src/ports ' +
        'and the types of fp-ts, rxjs and io-ts — never an adapter, a command, a node builtin or another package.',
      from: { path: '^src/ports/' },
      to: {
        pathNot: ['^src/(domain|ports)/', '^node_modules/(fp-ts|rxjs|io-ts)/'],
      },
    },
    {
      name: 'ports-use-fp-ts-rxjs-io-ts-as-types-only',
      severity: 'error',
      comment:
        'A port imports fp-ts, rxjs and io-ts for their types only: write `import type …`. ' +
        'Runtime code belongs in src/domain (pure) or src/infra (adapters).',
      from: { path: '^src/ports/' },
      to: {
        path: '^node_modules/(fp-ts|rxjs|io-ts)/',
        dependencyTypesNot: ['type-only'],
      },
    },

    // ─── src/commands, src/projections: through ports only ────────────────
    {
      name: 'commands-and-projections-not-to-infra-or-cli',
      severity: 'error',
      comment:
        'src/commands and src/projections reach the outside world through src/ports, never through an ' +
        'adapter (src/infra) or the command line (src/cli). Take the dependency as a parameter ' +
        '(as HandlerDeps.digest does) and let src/cli pass the adapter in.',
      from: { path: '^src/(commands|projections)/' },
      to: { path: '^src/(infra|cli)/' },
    },

    // ─── Adapter libraries: only in src/infra ─────────────────────────────
    {
      name: 'infra-not-to-commands-projections-or-cli',
      severity: 'error',
      comment:
        'src/infra implements ports: it may import src/domain and src/ports, never a command, a projection ' +
        'or the CLI. Move the type it needs into src/ports.',
      from: { path: '^src/infra/' },
      to: { path: '^src/(commands|projections|cli)/' },
    },
    {
      name: 'adapter-libraries-only-in-infra',
      severity: 'error',
      comment:
        'node-jose, better-sqlite3 and @eventstore/db-client are wrapped in src/infra (tagged errors, ' +
        'TaskEither) and used everywhere else through a port. Only src/infra, test/ and bench/ import them.',
      from: { pathNot: '^(src/infra|test|bench)/' },
      to: { path: ADAPTER_LIBRARIES },
    },

    // ─── src/http: the server, composed like the CLI ──────────────────────
    {
      name: 'http-only-from-serve',
      severity: 'error',
      comment:
        'src/http is the `keyledger serve` composition root (docs/adr/0019): only the serve command (src/cli/commands/serve.ts), ' +
        'src/http itself, test/ and bench/ import it. The domain, commands and projections know nothing of HTTP.',
      from: { pathNot: ['^src/http/', '^src/cli/commands/serve[.]ts$', '^(test|bench)/'] },
      to: { path: '^src/http/' },
    },
    {
      name: 'http-not-to-cli-wiring',
      severity: 'error',
      comment:
        "src/http reuses the CLI's composition (session, errors, renderers, the helpers its commands export) like a command does, " +
        'but never the program itself (main.ts) nor the serve command that starts it.',
      from: { path: '^src/http/' },
      to: { path: ['^src/cli/main[.]ts$', '^src/cli/commands/serve[.]ts$'] },
    },

    // ─── src: shipped code ────────────────────────────────────────────────
    {
      name: 'src-not-to-test-or-bench',
      severity: 'error',
      comment: 'src/ ships; test/ and bench/ do not. Move what src needs out of test/ or bench/ into src.',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'src-not-to-dev-dependencies',
      severity: 'error',
      comment:
        'src/ ships, and devDependencies are not installed with it. Move the package to "dependencies" ' +
        'in package.json, or the code out of src/. (@types/* packages are types only, and allowed.)',
      from: { path: '^src/' },
      to: {
        dependencyTypes: ['npm-dev'],
        pathNot: '^node_modules/@types/',
      },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
  },
};

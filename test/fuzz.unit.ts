/**
 * Issue 11, the fuzzing harness (fast-check): every surface that takes outside
 * input answers arbitrary input with a typed error — one printable line, no
 * stack trace, no input echoed beyond a bound — never a throw. A few hundred
 * runs per surface here; `FUZZ_RUNS` raises it (npm run test:full sets 10,000).
 *
 * Surfaces: config files (parseConfig), connection strings (describeConnection),
 * events read back from the store (decodeRecorded, arbitrary JSON in each field),
 * and the CLI's arguments (runCli in process, against a config that exists).
 */
import test from 'ava';
import fc from 'fast-check';
import * as E from 'fp-ts/Either';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeError } from '../src/cli/errors';
import { runCli } from '../src/cli/main';
import { decodeRecorded } from '../src/domain/envelope';
import { unsafeInText } from '../src/domain/text';
import { parseConfig } from '../src/infra/config';
import { describeConnection } from '../src/infra/connection-string';
import { tempDir } from './support/fixtures';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300);

/** One line, printable, bounded: what every error line must be whatever the input was. */
const isOneSafeLine = (s: string, bound = 1500): boolean => s.length <= bound && !s.includes('\n') && ![...s].some((ch) => unsafeInText(ch.charCodeAt(0)));

const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('\u001b[31m', '\u001b]0;x\u0007', 'a\nb', '\u202e', '\u0000', '../x', 'x'.repeat(5000), '{"a":', '🙂', ''),
);
const json = fc.jsonValue({ maxDepth: 3 });

test('config files: any JSON (and any text) → a ConfigError of one printable, bounded line, or a config', (t) => {
  const valid = {
    installationId: '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b',
    machineName: 'RS-1',
    instanceName: 'I',
    serviceIdentity: 'svc',
    store: 'sqlite:ledger.db',
    keystore: 'ks/instance.keystore.json',
  };
  const field = fc.constantFrom(...Object.keys(valid), 'deployment', 'stateDir', 'keySize', 'keystoreSecretFile', 'ledgerAccess', 'extra');
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.oneof(
          nasty,
          fc.dictionary(field, fc.oneof(nasty, json)).map((d) => JSON.stringify({ ...valid, ...d })),
        ),
        (raw) => {
          const r = parseConfig('/tmp/kl-fuzz/config.json', raw);
          return E.isRight(r) || (r.left._tag === 'ConfigError' && isOneSafeLine(describeError(r.left)));
        },
      ),
      { numRuns: RUNS },
    ),
  );
});

test('connection strings: anything → a described store or undefined, never a throw', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.oneof(nasty, fc.webUrl(), fc.constantFrom('sqlite:', 'esdb://', 'esdb+discover://a:1,b:2?tls=false')), (s) => {
        const d = describeConnection(s);
        return d === undefined || (typeof d.location === 'string' && !d.location.includes('@'));
      }),
      { numRuns: RUNS },
    ),
  );
});

test('events read back from the store: arbitrary JSON in each field → a CorruptEvent of one printable line, or an event', (t) => {
  const types = fc.constantFrom(
    'ConfigRead',
    'KeyPairIssued',
    'PublicKeyStored',
    'SymmetricKeyWrapped',
    'InstanceActivationRefused',
    'GenesisDeclared',
    'Nope',
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(types, json, json, (type, data, metadata) => {
        const r = decodeRecorded({ id: 'x', streamName: 's', revision: 0n, position: { commit: 1n, prepare: 1n }, type, data, metadata });
        return E.isRight(r) || (r.left._tag === 'CorruptEvent' && isOneSafeLine(describeError(r.left)));
      }),
      { numRuns: RUNS },
    ),
  );
});

test('CLI arguments: arbitrary argv → exit 0–5 with stderr empty or one printable line, never a throw', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('kl-fuzz');
  const file = path.join(dir, 'c.json');
  let out = '';
  const collect = (s: string): void => {
    out += s;
  };
  const io = { stdout: collect, stderr: collect, env: { KEYLEDGER_ACTOR: 'fuzz@test' }, isTTY: false };
  if ((await runCli(['-c', file, 'config', 'new', '--instance', 'F'], io)) !== 0) return t.fail(out);
  const verbs = fc.constantFrom('status', 'list', 'verify', 'join', 'remove', 'accept-rollback', 'trust', 'rskeymgmt', 'config', 'secret', 'nope');
  const flags = fc.constantFrom(
    '--actor',
    '--correlation-id',
    '--store',
    '--to',
    '--expect-thumbprint',
    '--expect-genesis',
    '--machine',
    '-j',
    '-r',
    '--json',
    'put',
    'get',
    'delete',
    '--reveal',
    '--file',
  );
  await fc.assert(
    fc.asyncProperty(verbs, fc.array(fc.oneof(flags, nasty), { maxLength: 4 }), async (verb, rest) => {
      let stderr = '';
      const code = await runCli(['-c', file, verb, ...rest], {
        ...io,
        stdout: () => undefined,
        stderr: (s) => {
          stderr += s;
        },
      });
      const lines = stderr.split('\n').filter((l) => l.length > 0);
      // commander's own usage errors may add a help hint line, and a command group without its subcommand prints its
      // help; ours are one line. None may carry raw control characters.
      return (
        code >= 0 &&
        code <= 5 &&
        (lines.length <= 3 || stderr.startsWith('Usage:')) &&
        !/\n\s+at .+\.js:\d+/.test(stderr) &&
        ![...stderr].some((ch) => ch !== '\n' && unsafeInText(ch.charCodeAt(0)))
      );
    }),
    { numRuns: RUNS >= 10_000 ? 1000 : Math.min(RUNS, 150) }, // each run is a whole CLI invocation
  );
  t.true(fs.existsSync(file));
});

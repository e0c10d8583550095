/**
 * Issue 17, problem 2: no part of an EventStoreDB password ever reaches a message — whatever the password
 * holds (`?`, `/`, `@`, `:`, `%`, `#`, `&`, `=`, `,` …), written raw or percent-encoded, in a valid string or in
 * one refused for another reason (bad port, unknown option, a path, a missing host …).
 *
 * Every message a connection string can produce is collected: the parser's problem, the described location and
 * endpoint, the config loader's error (and its CLI line), the adapter's open error (and its line), the store
 * selection error, the access check's warnings and errors, and whatever the client prints on the console. Passwords are generated with every other
 * character outside ASCII (the rest of the string is ASCII), so a leak of even two characters shows; their
 * percent-encoded forms are looked for too. `FUZZ_RUNS` sets the runs (npm test: 300; npm run test:full: 10,000).
 */
import test from 'ava';
import fc from 'fast-check';
import * as E from 'fp-ts/Either';
import { describeError } from '../../src/cli/errors';
import { parseConfig } from '../../src/infra/config';
import { connectionProblem, describeConnection, esdbEndpoint, parseEsdb } from '../../src/infra/connection-string';
import { openEsdbStore } from '../../src/infra/esdb-store';
import { openStore } from '../../src/infra/open-store';
import { storeAccess } from '../../src/infra/store-access';
import { describeStoreError } from '../../src/ports/event-store';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300);

/** Characters that appear nowhere else in a generated string or in any fixed message text. */
const DISTINCT = [...'жλ中ßéØ🔑ñΩ漢ħŁ'];
const ASCII_ANY = [...'abcXYZ019@/?:#%&=,!$\'()*+;[]{}|"<>~^` -_.'];

const password = fc
  .array(fc.tuple(fc.constantFrom(...DISTINCT), fc.constantFrom(...ASCII_ANY)), { minLength: 1, maxLength: 12 })
  .map((pairs) => pairs.map(([d, a]) => d + a).join(''));
const username = fc.stringMatching(/^[a-z][a-z0-9._-]{0,11}$/);
const hostName = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}(\.[a-z]{2,5})?$/);
const host = fc.tuple(hostName, fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined })).map(([h, p]) => (p === undefined ? h : `${h}:${p}`));
const option = fc.constantFrom(
  'tls=false',
  'tls=true',
  'nodePreference=leader',
  'nodePreference=follower',
  'keepAliveInterval=10000',
  'connectionName=ops-console',
  'defaultDeadline=5000',
  'gossipTimeout=3',
  'throwOnAppendFailure=false',
);
/** How a valid string is spoiled: each is refused for a reason that has nothing to do with the password. */
const spoil = fc.constantFrom(
  (s: string) => s,
  (s: string) => s.replace(/@([^@]*)$/, '@$1:notaport'),
  (s: string) => s.replace(/@([^@]*)$/, '@'),
  (s: string) => `${s}${s.includes('?') ? '&' : '?'}frobnicate=1`,
  (s: string) => `${s}${s.includes('?') ? '&' : '?'}tls=maybe`,
  (s: string) => s.replace(/@([^@?]*)/, '@$1/path'),
  (s: string) => s.replace(/@([^@?]*)/, '@$1,,'),
  (s: string) => s.replace('://', ':/'),
  (s: string) => s.replace(/@([^@?]*)/, '@$1:0'),
  (s: string) => `${s}${s.includes('?') ? '&' : '?'}tls=false&tls=false`,
);

const connection = fc.record({
  scheme: fc.constantFrom('esdb', 'esdb+discover'),
  user: username,
  password,
  encode: fc.boolean(),
  hosts: fc.array(host, { minLength: 1, maxLength: 3 }),
  options: fc.uniqueArray(option, { maxLength: 3, selector: (o) => o.split('=')[0] }),
  slash: fc.boolean(),
});
type Conn = typeof connection extends fc.Arbitrary<infer A> ? A : never;

const build = (c: Conn): string =>
  `${c.scheme}://${c.user}:${c.encode ? encodeURIComponent(c.password) : c.password}@${c.hosts.join(',')}${c.slash ? '/' : ''}${
    c.options.length > 0 ? `?${c.options.join('&')}` : ''
  }`;

/** Whether any character of the password (or its percent-encoding) shows in the text. */
const leaks = (text: string, pw: string): string | undefined => {
  for (const ch of new Set([...pw].filter((x) => DISTINCT.includes(x)))) {
    if (text.includes(ch)) return ch;
    const encoded = encodeURIComponent(ch);
    if (text.toUpperCase().includes(encoded.toUpperCase())) return encoded;
  }
  if (text.includes(pw)) return pw;
  return undefined;
};

const CONFIG = {
  installationId: '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b',
  machineName: 'RS-NODE-1',
  instanceName: 'MSSQLSERVER',
  serviceIdentity: 'svc',
  keystore: './ks.json',
};

/** Every message the synchronous surfaces give for one connection string. */
const messagesOf = async (cs: string): Promise<string[]> => {
  const out: string[] = [];
  const parsed = parseEsdb(cs);
  out.push(E.isLeft(parsed) ? parsed.left.message : parsed.right.endpoint);
  out.push(JSON.stringify(describeConnection(cs) ?? null), esdbEndpoint(cs), connectionProblem(cs) ?? '');
  const cfg = parseConfig('/etc/keyledger/k.json', JSON.stringify({ ...CONFIG, store: cs }));
  out.push(E.isLeft(cfg) ? `${cfg.left.message}\n${describeError(cfg.left)}` : JSON.stringify(cfg.right.instance.store));
  // The client's own parser console.warns the whole string on an unknown option: whatever reaches the console counts too.
  const warn = console.warn;
  const printed: string[] = [];
  console.warn = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
  let opened: ReturnType<typeof openEsdbStore>;
  try {
    opened = openEsdbStore(cs, { retry: { attempts: 1 } });
  } finally {
    console.warn = warn;
  }
  out.push(...printed);
  if (E.isLeft(opened)) out.push(JSON.stringify(opened.left), describeStoreError(opened.left), describeError(opened.left));
  else {
    out.push(opened.right.endpoint);
    await opened.right.close();
  }
  const access = storeAccess(cs, { env: {}, fromCommandLine: true });
  out.push(E.isLeft(access) ? access.left : access.right.warnings.join('\n'));
  const userOnly = cs.replace(/:[^:@]*@/, '@'); // the same string with the password left out (one from the environment)
  const fromEnv = storeAccess(userOnly, { env: {}, fromCommandLine: false });
  if (E.isLeft(fromEnv)) out.push(fromEnv.left);
  return out;
};

test(`${RUNS} generated connection strings with random passwords: no message shows any part of the password`, async (t) => {
  t.timeout(600_000);
  let checked = 0;
  await fc.assert(
    fc.asyncProperty(connection, spoil, async (c, s) => {
      const cs = s(build(c));
      for (const m of await messagesOf(cs)) {
        const leaked = leaks(m, c.password);
        if (leaked !== undefined) throw new Error(`"${leaked}" of the password shows in: ${m}`);
      }
      checked++;
    }),
    { numRuns: RUNS },
  );
  t.is(checked, RUNS);
});

test('the store selection error quotes nothing of an unsupported string with credentials', async (t) => {
  await t.notThrowsAsync(
    fc.assert(
      fc.asyncProperty(password, fc.constantFrom('mysql', 'postgres', 'esdb+tls', 'ESDB'), async (pw, scheme) => {
        const r = await openStore(`${scheme}://admin:${pw}@db.internal:2113`);
        if (E.isRight(r)) {
          await r.right.close();
          return false;
        }
        return leaks(JSON.stringify(r.left), pw) === undefined && leaks(describeError(r.left), pw) === undefined;
      }),
      { numRuns: Math.min(RUNS, 500) },
    ),
  );
});

test('raw and percent-encoded passwords are read back exactly (the client gets what the operator wrote)', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(connection, (c) => {
        const p = parseEsdb(build(c));
        return E.isRight(p) && p.right.password === c.password && p.right.username === c.user && p.right.hosts.length === c.hosts.length;
      }),
      { numRuns: RUNS },
    ),
  );
});

// ─── the cases of the issue, by name ───────────────────────────────────────

test('issue 17 cases: "?" "/" and raw "@" in a password', (t) => {
  const cases: Array<[string, string, string]> = [
    ['esdb://admin:pa?ss@host:2113', 'pa?ss', 'esdb://host:2113'],
    ['esdb://admin:s3cr/et@host:2113?tls=false', 's3cr/et', 'esdb://host:2113'],
    ['esdb://admin:p@ss@host:2113', 'p@ss', 'esdb://host:2113'],
    ['esdb+discover://admin:a:b,c@n1:2113,n2:2113', 'a:b,c', 'esdb+discover://n1:2113,n2:2113'],
    ['esdb://admin:p%40ss%2Fx@host', 'p@ss/x', 'esdb://host'],
  ];
  for (const [cs, pw, endpoint] of cases) {
    const p = parseEsdb(cs);
    t.like(p, { _tag: 'Right', right: { username: 'admin', password: pw, endpoint } }, cs);
  }
  // The two that leaked before: printed whole by the config's mask, or cut at the first "?".
  const bad = parseConfig('/k.json', JSON.stringify({ ...CONFIG, store: 'esdb://admin:s3cr/et@host:notaport' }));
  t.deepEqual(
    bad,
    E.left({ _tag: 'ConfigError', file: '/k.json', message: 'field "store" is not a usable connection string: a port is not a number from 1 to 65535' }),
  );
  t.is(esdbEndpoint('esdb://admin:pa?ss@host:2113'), 'esdb://host:2113');
  t.is(esdbEndpoint('esdb://admin:pa?ss@host:nope'), 'esdb://<invalid connection string>');
});

test('more than one "@" that could end the user info is refused as ambiguous, not guessed', (t) => {
  const p = parseEsdb('esdb://admin:pw@host:2113?connectionName=a@b');
  t.deepEqual(
    p,
    E.left({
      _tag: 'BadConnectionString',
      message: 'it is ambiguous: more than one "@" could end the user name and password (percent-encode an "@" inside the password or an option value as %40)',
    }),
  );
  t.like(parseEsdb('esdb://admin:pw@host:2113?connectionName=a%40b'), { _tag: 'Right', right: { options: { connectionName: 'a@b' } } });
});

/**
 * `keyledger serve` in process (docs/adr/0019): the ping from the live view, the role × endpoint matrix (every
 * forbidden pair 403, no token 401 but for the ping and the metrics), tokens kept out of logs and answers, revocation,
 * the rate limit on bad tokens, a join over HTTP recorded under the token's name, and fast-check fuzzing of every body
 * and query: a typed 400, no stack trace, nothing written.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/Either';
import type * as t from 'io-ts';
import { API_ROUTES, type ApiRoute } from '../src/http/api';
import { membersOf } from '../src/http/codecs';
import { tokenFileOf } from '../src/infra/token-file';
import { cli } from './support/cli-inproc';
import { tempDir } from './support/fixtures';
import { issueToken, type Served, serve, untilLive, untilView } from './support/http';
import { keystoreThumbprint, newNode, type TestNode } from './support/nodes';
import { rowOf, tamper } from './support/tamper';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300);

interface World {
  readonly a: TestNode;
  readonly b: TestNode;
  readonly served: Served;
  readonly tokens: Readonly<Record<'operator' | 'auditor' | 'service' | 'otherService', string>>;
}

/** A activated and served; B waiting to join; a token of each role (and a service token of another deployment). */
const world = (async (): Promise<World> => {
  const dir = tempDir('kl-http');
  const a = await newNode(dir, 'A');
  const b = await newNode(dir, 'B');
  if ((await a.run('init')).code !== 0 || (await b.run('init')).code !== 1) throw new Error('setup failed');
  const tokens = {
    operator: await issueToken(a, 'operator', 'ops@contoso'),
    auditor: await issueToken(a, 'auditor', 'auditor@contoso'),
    service: await issueToken(a, 'service', 'billing-service', 'default'),
    otherService: await issueToken(a, 'service', 'other-service', 'elsewhere'),
  };
  return { a, b, served: await serve(a), tokens };
})();

test.after.always(async () => (await world).served.close());

const inject = async (method: string, url: string, token?: string, body?: unknown, headers: Record<string, string> = {}) => {
  const w = await world;
  return w.served.server.app.inject({
    method: method as 'GET',
    url,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    ...(body !== undefined ? { payload: body as object } : {}),
  });
};

const eventCount = async (): Promise<number> => {
  const r = await (await world).served.session.store.readAll()();
  return E.isRight(r) ? r.right.length : -1;
};

test.serial('the ping: 200 for the activated instance, 503 with RSReportServerNotActivated, the SSRS code, reason and remedy otherwise', async (t) => {
  t.timeout(60_000);
  const { a, b } = await world;
  const ok = await inject('GET', '/reportserver');
  t.is(ok.statusCode, 200);
  t.is(ok.headers['content-type'], 'text/plain; charset=utf-8');
  t.is(ok.body, `activated: installation ${a.id}, symmetric key version 1\n`);
  const okJson = await inject('GET', '/ReportServer/', undefined, undefined, { accept: 'application/json' });
  t.is(okJson.statusCode, 200, 'the SSRS path, any case, trailing slash');
  t.like(okJson.json(), { installationId: a.id, state: 'activated', activated: true, keyVersion: 1 });
  const waiting = await inject('GET', `/reportserver/${b.id.toUpperCase()}`, undefined, undefined, { accept: 'text/plain;q=0.5, application/json' });
  t.is(waiting.statusCode, 503);
  const body = waiting.json<{ remedy: { steps: Array<{ command: string }> } }>();
  t.like(body, { installationId: b.id, state: 'waiting-to-join', activated: false, error: 'RSReportServerNotActivated', code: 'RSReportServerNotActivated' });
  t.deepEqual(
    body.remedy.steps.map((s) => s.command),
    [`keyledger join ${b.id} --expect-thumbprint ${keystoreThumbprint(b.file)}`, 'keyledger start'],
  );
  const text = await inject('GET', `/reportserver/${b.id}`);
  t.is(text.statusCode, 503);
  t.regex(text.body, /^RSReportServerNotActivated: waiting to join: .* Remedy: .*keyledger join /);
  const unknown = await inject('GET', '/reportserver/00000000-0000-4000-8000-000000000000', undefined, undefined, { accept: 'application/json' });
  t.like(unknown.json(), { state: 'not-initialized', error: 'RSReportServerNotActivated' });
  t.is((await inject('GET', '/reportserver/not-a-guid')).statusCode, 400);
});

type Who = 'none' | 'operator' | 'auditor' | 'service' | 'otherService';
const WHO: ReadonlyArray<Who> = ['none', 'operator', 'auditor', 'service', 'otherService'];

/** A URL for the route, and a body its codec refuses (so an allowed call stops at the door and changes nothing). */
const probe = (r: ApiRoute, w: World): { url: string; body?: unknown } => {
  const url = r.url.replace(':installationId', w.a.id).replace('*', 'no-such-secret');
  return r.body ? { url, body: { notAMember: true } } : { url };
};

test.serial(
  'the role × endpoint matrix: no token 401, a role not allowed 403, an allowed one reaches the handler; the token never in logs or answers',
  async (t) => {
    t.timeout(60_000);
    const w = await world;
    const answers: string[] = [];
    for (const r of API_ROUTES) {
      const { url, body } = probe(r, w);
      for (const who of WHO) {
        const token = who === 'none' ? undefined : w.tokens[who];
        const res = await inject(r.method, url, token, body);
        answers.push(res.body, JSON.stringify(res.headers));
        const role = who === 'otherService' ? 'service' : who;
        const label = `${who} ${r.method} ${r.url}`;
        if (who === 'none') t.is(res.statusCode, 401, label);
        else if (!r.roles.includes(role as 'operator')) t.is(res.statusCode, 403, label);
        else if (who === 'otherService') t.is(res.statusCode, 403, `${label}: outside its deployment`);
        else {
          t.false([401, 403].includes(res.statusCode), `${label}: ${res.statusCode} ${res.body}`);
          t.true(res.statusCode < 500, `${label}: ${res.statusCode} ${res.body}`);
          if (!body && !r.url.includes('*')) t.is(res.statusCode, 200, `${label}: a read answers`);
        }
        if (res.statusCode === 401 || res.statusCode === 403) t.like(res.json(), { error: res.statusCode === 401 ? 'Unauthenticated' : 'Forbidden' });
      }
    }
    // The ping and the metrics need no token.
    t.is((await inject('GET', '/reportserver')).statusCode, 200);
    t.is((await inject('GET', '/metrics')).statusCode, 200);
    const log = w.served.log();
    t.regex(log, /"refused":"Forbidden".*"name":"auditor@contoso","role":"auditor"/);
    for (const token of Object.values(w.tokens)) {
      t.false(log.includes(token), 'no token in the log');
      t.false(
        answers.some((a) => a.includes(token)),
        'no token in an answer',
      );
      t.false(log.includes(token.slice(4, 20)), 'not even part of one');
    }
  },
);

test.serial('service tokens read the status of their own deployment only; the served status is what keyledger status --json says', async (t) => {
  t.timeout(60_000);
  const w = await world;
  const own = await inject('GET', `/api/status/${w.b.id}`, w.tokens.service);
  t.is(own.statusCode, 200);
  const cliStatus = await w.b.run('--json', 'status');
  const { message: _m, ...fromHttp } = own.json<Record<string, unknown>>();
  const { message: _n, ...fromCli } = cliStatus.json();
  t.deepEqual(fromHttp, fromCli);
  t.is((await inject('GET', `/api/status/${w.b.id}`, w.tokens.otherService)).statusCode, 403);
});

test.serial('a revoked token is refused at its next request; bad tokens from one client are rate-limited, others unaffected', async (t) => {
  t.timeout(60_000);
  const w = await world;
  const temp = await issueToken(w.a, 'auditor', 'temp-auditor');
  t.is((await inject('GET', '/api/instances', temp)).statusCode, 200);
  t.is((await cli('-c', w.a.file, 'token', 'revoke', 'temp-auditor')).code, 0);
  t.is((await inject('GET', '/api/instances', temp)).statusCode, 401);
  t.is(fs.statSync(tokenFileOf(w.a.file)).mode & 0o777, 0o600);
  t.false(fs.readFileSync(tokenFileOf(w.a.file), 'utf8').includes(w.tokens.operator), 'only hashes in the file');
  const from = (remoteAddress: string, token: string) =>
    w.served.server.app.inject({ method: 'GET', url: '/api/instances', remoteAddress, headers: { authorization: `Bearer ${token}` } });
  for (let i = 0; i < 10; i++) t.is((await from('192.0.2.7', `klt_guess${i}`)).statusCode, 401);
  const blocked = await from('192.0.2.7', w.tokens.auditor);
  t.is(blocked.statusCode, 429, 'even a good token from a client that guessed too often');
  t.truthy(blocked.headers['retry-after']);
  t.is((await from('192.0.2.8', w.tokens.auditor)).statusCode, 200, 'another client is not affected');
});

test.serial('a join over HTTP needs the thumbprint, is recorded under the token name, and the ping follows the live view', async (t) => {
  t.timeout(60_000);
  const w = await world;
  t.is((await inject('POST', '/api/join', w.tokens.operator, { installationId: w.b.id })).statusCode, 400, 'no thumbprint, no join');
  const wrong = await inject('POST', '/api/join', w.tokens.operator, { installationId: w.b.id, expectThumbprint: 'A'.repeat(43) });
  t.is(wrong.statusCode, 409);
  t.like(wrong.json(), { error: 'NewcomerKeyRefused' });
  const joined = await inject(
    'POST',
    '/api/join',
    w.tokens.operator,
    { installationId: w.b.id, expectThumbprint: keystoreThumbprint(w.b.file) },
    {
      'x-correlation-id': 'CHG-4711',
    },
  );
  t.is(joined.statusCode, 200, joined.body);
  t.like(joined.json(), { newcomer: w.b.id, recorded: ['SymmetricKeyWrapped'] });
  // The trail over HTTP (NDJSON) is the CLI's, line for line.
  const trail = await inject('GET', '/api/audit?deployment=default&type=SymmetricKeyWrapped', w.tokens.auditor);
  t.is(trail.headers['content-type'], 'application/x-ndjson; charset=utf-8');
  t.is(trail.body, (await w.a.run('--json', 'audit', '--deployment', 'default', '--type', 'SymmetricKeyWrapped')).stdout);
  const last = trail.body
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { actor: string; correlationId: string; command: string })
    .pop();
  t.like(last, { actor: 'ops@contoso', correlationId: 'CHG-4711', command: 'join' });
  t.is((await inject('GET', '/api/audit?type=NoSuchEvent', w.tokens.auditor)).statusCode, 400);
  await untilView(w.served, 'the copy for B in the view', () => {
    const s = w.served.server.ctx.view.state();
    return s.kind === 'live' && s.view.deployments['default']?.copies[w.b.id] !== undefined;
  });
  t.regex((await inject('GET', `/reportserver/${w.b.id}`)).body, /step 4 of 5.*keyledger start/);
  t.is((await w.b.run('start')).code, 0);
  await untilView(w.served, 'B activated', () => {
    const s = w.served.server.ctx.view.state();
    return s.kind === 'live' && Object.values(s.view.instances[w.b.id]?.outcomes ?? {}).some((o) => o.kind === 'activated');
  });
  t.is((await inject('GET', `/reportserver/${w.b.id}`)).statusCode, 200);
});

test.serial('/openapi.json names exactly the members each codec defines', async (t) => {
  t.timeout(30_000);
  const doc = (await inject('GET', '/openapi.json')).json<{ paths: Record<string, Record<string, Record<string, unknown>>> }>();
  for (const r of API_ROUTES) {
    const op = doc.paths[r.url.replace(/:([A-Za-z]+)/g, '{$1}').replace(/\*$/, '{name}')]?.[r.method.toLowerCase()];
    t.truthy(op, `${r.method} ${r.url}`);
    const query = ((op?.['parameters'] ?? []) as Array<{ in: string; name: string }>).filter((p) => p.in === 'query').map((p) => p.name);
    t.deepEqual(query.sort(), Object.keys(membersOf(r.query) ?? {}).sort(), `${r.url} query`);
    const body = (op?.['requestBody'] as { content: Record<string, { schema: { properties: object; additionalProperties: boolean } }> } | undefined)?.content[
      'application/json'
    ]?.schema;
    t.deepEqual(Object.keys(body?.properties ?? {}).sort(), r.body ? Object.keys(membersOf(r.body) ?? {}).sort() : [], `${r.url} body`);
    if (body) t.false(body.additionalProperties);
    t.deepEqual(op?.['x-roles'], r.roles);
  }
});

/** A token of a role the route allows (so the fuzzed input reaches the codec). */
const tokenFor = (r: ApiRoute, w: World): string => w.tokens[r.roles.includes('operator') ? 'operator' : r.roles.includes('auditor') ? 'auditor' : 'service'];

const refused = (codec: t.Mixed | undefined, v: unknown): boolean => codec === undefined || E.isLeft(codec.decode(v)) || !isSubset(codec, v);
const isSubset = (codec: t.Mixed, v: unknown): boolean =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).every((k) => Object.hasOwn(membersOf(codec) ?? {}, k));

test.serial('fuzzing every body and query: a typed 400, no stack trace, nothing written', async (t) => {
  t.timeout(120_000);
  const w = await world;
  const before = await eventCount();
  const withBody = API_ROUTES.filter((r) => r.body);
  const withQuery = API_ROUTES.filter((r) => Object.keys(membersOf(r.query) ?? {}).length > 0 || r.method === 'GET');
  const value = fc.oneof(
    fc.jsonValue(),
    fc.dictionary(fc.constantFrom('installationId', 'expectThumbprint', 'password', 'value', 'force', 'confirm', 'x'), fc.jsonValue()),
  );
  const bodyCase = fc
    .tuple(fc.constantFrom(...withBody), value)
    .filter(([r, v]) => refused(r.body, v === undefined || v === null ? {} : v) && !(typeof v === 'object' && v !== null && Object.keys(v).length === 0));
  const queryCase = fc
    .tuple(
      fc.constantFrom(...withQuery),
      fc.dictionary(fc.string({ maxLength: 12 }), fc.oneof(fc.string({ maxLength: 40 }), fc.constant('true')), { minKeys: 1 }),
    )
    .filter(([r, q]) => refused(r.query, q));
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        bodyCase.map((c) => ({ kind: 'body' as const, c })),
        queryCase.map((c) => ({ kind: 'query' as const, c })),
      ),
      async ({ kind, c }) => {
        const [r, input] = c;
        const { url } = probe(r, w);
        const res =
          kind === 'body'
            ? await w.served.server.app.inject({
                method: r.method as 'POST',
                url,
                headers: { authorization: `Bearer ${tokenFor(r, w)}`, 'content-type': 'application/json' },
                payload: JSON.stringify(input),
              })
            : await w.served.server.app.inject({
                method: r.method as 'GET',
                url: `${url}?${new URLSearchParams(Object.entries(input as Record<string, string>)).toString()}`,
                headers: { authorization: `Bearer ${tokenFor(r, w)}` },
                ...(r.body ? { payload: { notAMember: 1 } } : {}),
              });
        if (res.statusCode !== 400) throw new Error(`${r.method} ${r.url} ${kind} ${JSON.stringify(input)}: ${res.statusCode} ${res.body}`);
        const body = res.json<{ error: string; message: string }>();
        if (typeof body.error !== 'string' || typeof body.message !== 'string') throw new Error(`untyped answer: ${res.body}`);
        if (/\n\s+at |node:internal|\.js:\d+/.test(res.body)) throw new Error(`a stack trace: ${res.body}`);
      },
    ),
    { numRuns: RUNS },
  );
  t.is(await eventCount(), before, 'nothing was written');
  t.false(fs.readFileSync(path.join(w.a.dir, '.keyledger', 'keyledger.log'), 'utf8').includes('notAMember'));
});

test.serial('/metrics: instances by state, findings, key version age, events, request latencies; a token when the server requires one', async (t) => {
  t.timeout(60_000);
  const w = await world;
  await inject('GET', '/reportserver');
  const m = (await inject('GET', '/metrics')).body;
  const activated = Number(/keyledger_instances\{deployment="default",state="activated"\} (\d+)/.exec(m)?.[1]);
  const listed = (await inject('GET', '/api/instances', w.tokens.auditor)).json<Array<{ state: string }>>();
  t.is(activated, listed.filter((i) => i.state === 'activated').length);
  t.regex(m, /keyledger_key_version\{deployment="default"\} 1\n/);
  t.regex(m, /keyledger_key_version_age_seconds\{deployment="default"\} [\d.]+\n/);
  t.regex(m, /keyledger_events\{type="ConfigRead"\} 2\n/);
  t.regex(m, /keyledger_http_request_duration_seconds_count\{method="GET",route="\/reportserver",status="200"\} \d+/);
  const guarded = await serve(w.a, { metricsTokenRequired: true });
  t.teardown(() => guarded.close());
  t.is((await guarded.server.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
  const withToken = await guarded.server.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${w.tokens.service}` } });
  t.is(withToken.statusCode, 200);
  t.is((await guarded.server.app.inject({ method: 'GET', url: '/reportserver' })).statusCode, 200, 'the ping stays open');
});

test.serial('the dashboard: signed in by cookie, rows escaped, operator buttons only for operators, a cookie change only from this origin', async (t) => {
  t.timeout(60_000);
  const w = await world;
  const app = w.served.server.app;
  t.is((await app.inject({ method: 'GET', url: '/dashboard' })).headers['location'], '/login', 'no cookie: sign in');
  t.is((await app.inject({ method: 'POST', url: '/login', payload: { token: w.tokens.service } })).statusCode, 401, 'not a service token');
  const login = await app.inject({ method: 'POST', url: '/login', payload: { token: w.tokens.auditor } });
  t.is(login.statusCode, 204);
  t.regex(String(login.headers['set-cookie']), /^keyledger_token=[^;]+; HttpOnly; SameSite=Strict; Path=\//);
  const cookie = `keyledger_token=${encodeURIComponent(w.tokens.auditor)}`;
  const page = await app.inject({ method: 'GET', url: '/dashboard', headers: { cookie } });
  t.is(page.statusCode, 200);
  t.regex(String(page.headers['content-security-policy']), /^default-src 'none'; script-src 'self'/);
  t.true(page.body.includes(`data-installation="${w.a.id}"`));
  t.false(page.body.includes('data-action='), 'no operator button for an auditor');
  const opPage = await app.inject({ method: 'GET', url: '/dashboard', headers: { cookie: `keyledger_token=${encodeURIComponent(w.tokens.operator)}` } });
  t.true(opPage.body.includes('data-action="remove"'), 'the operator has them');
  t.false(/<script>(?!<\/script>)/.test(page.body), 'no inline script');
  // A page of another site posting with the cookie: refused; the same request from this origin reaches the handler.
  const other = await app.inject({ method: 'POST', url: '/api/verify', headers: { cookie, origin: 'https://evil.example' }, payload: {} });
  t.is(other.statusCode, 403);
  t.like(other.json(), { error: 'CrossOrigin' });
  const same = await app.inject({
    method: 'POST',
    url: '/api/verify',
    headers: { cookie, origin: 'http://127.0.0.1:8080', host: '127.0.0.1:8080' },
    payload: {},
  });
  t.is(same.statusCode, 200);
  t.true(same.json<{ intact: boolean }>().intact);
});

test.serial('secrets over HTTP for a service token; a backup comes back in the answer and shows in /metrics; a wrong restore writes nothing', async (t) => {
  t.timeout(60_000);
  const w = await world;
  const put = await inject('PUT', '/api/secrets/reportserver/datasource/sales', w.tokens.service, { value: 'Server=db;Password=s3cret' });
  t.is(put.statusCode, 200, put.body);
  t.like(put.json(), { name: 'reportserver/datasource/sales', keyVersion: 1, recorded: ['SecretPut'] });
  const got = await inject('GET', '/api/secrets/reportserver/datasource/sales', w.tokens.service);
  t.like(got.json(), { name: 'reportserver/datasource/sales', value: 'Server=db;Password=s3cret' });
  t.is((await inject('GET', '/api/secrets/reportserver/datasource/sales', w.tokens.operator)).statusCode, 403, 'an operator does not read values');
  const listed = (await inject('GET', '/api/secrets', w.tokens.operator)).json<Array<{ name: string; reads: number }>>();
  t.like(listed, [{ name: 'reportserver/datasource/sales', reads: 1 }]);
  t.false(JSON.stringify(listed).includes('s3cret'));
  t.is((await inject('DELETE', '/api/secrets/reportserver/datasource/sales', w.tokens.service)).statusCode, 200);
  t.is((await inject('GET', '/api/secrets/reportserver/datasource/sales', w.tokens.service)).statusCode, 404);

  t.is((await inject('POST', '/api/backup', w.tokens.operator, { password: 'short' })).statusCode, 400);
  const backup = await inject('POST', '/api/backup', w.tokens.operator, { password: 'correct horse battery staple' });
  t.is(backup.statusCode, 200, backup.body);
  const file = backup.json<{ backup: string; keyVersion: number; recorded: string[] }>();
  t.is(file.backup.split('.').length, 5, 'a compact JWE');
  t.deepEqual(file.recorded, ['KeyBackedUp']);
  await untilLive(w.served.server.fleet, 'the backup in the metrics view', () => {
    const f = w.served.server.fleet.state();
    return f.kind === 'live' && f.view.backups['default'] !== undefined;
  });
  const m = (await inject('GET', '/metrics')).body;
  t.regex(m, /keyledger_last_backup_key_version\{deployment="default"\} 1\n/);
  t.regex(m, /keyledger_seconds_since_last_backup\{deployment="default"\} [\d.]+\n/);
  const before = await eventCount();
  const wrong = await inject('POST', '/api/restore', w.tokens.operator, { backup: file.backup, password: 'not the password at all' });
  t.is(wrong.statusCode, 409);
  t.like(wrong.json(), { error: 'BackupPasswordWrong' });
  t.is(await eventCount(), before, 'nothing written');
});

test.serial('an event planted behind the server without its hash chain stops the live view: the ping says 503, not activated (attack)', async (t) => {
  t.timeout(60_000);
  const w = await world;
  t.is((await inject('GET', '/reportserver')).statusCode, 200);
  const file = path.join(w.a.dir, '.keyledger', 'ledger.db');
  const stream = `keyledger.instance-${w.a.id}`;
  const head = rowOf(file, stream, 0);
  // A copy of its first event appended as its next one: it decodes, but its previous-hash link is not the stream's head.
  const revision = Number((await w.a.run('--json', 'verify')).json<{ heads: Record<string, { revision: string }> }>().heads[stream]?.revision) + 1;
  tamper(
    file,
    "INSERT INTO events (stream_name, stream_revision, event_id, event_type, data, metadata) VALUES (?, ?, '00000000-0000-4000-8000-00000000beef', ?, ?, ?)",
    stream,
    revision,
    head.event_type,
    head.data,
    head.metadata,
  );
  tamper(file, 'UPDATE streams SET revision = ? WHERE stream_name = ?', revision, stream);
  await untilView(w.served, 'the live view to stop', () => w.served.server.ctx.view.state().kind === 'failed');
  const ping = await inject('GET', '/reportserver', undefined, undefined, { accept: 'application/json' });
  t.is(ping.statusCode, 503);
  t.like(ping.json(), { activated: false, error: 'CorruptEvent' });
  t.regex(ping.json<{ message: string }>().message, new RegExp(`${stream}@${revision}`));
});

/**
 * `keyledger serve` as a real load balancer sees it (docs/adr/0019): Debian's haproxy health-checks two servers with
 * `option httpchk GET /reportserver`, marks the waiting instance down and the activated one up, and the waiting one up
 * once it is joined (its server runs the start check when the copy arrives). Then the binary's TLS and its graceful
 * stop on SIGTERM. All on 127.0.0.1. `.ci/run` installs haproxy when it is missing; without it this test fails, saying so.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import test from 'ava';
import { CLI, keyledger } from '../support/cli';
import { tempDir } from '../support/fixtures';
import { keystoreThumbprint } from '../support/nodes';

const HAPROXY = ['/usr/sbin/haproxy', '/usr/bin/haproxy'].find((p) => fs.existsSync(p));

interface Server {
  readonly child: ChildProcess;
  readonly url: string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

/** `keyledger serve` on a free port; resolves once it prints where it listens. */
const serve = (dir: string, config: string, ...extra: string[]): Promise<Server> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '-c', config, 'serve', '--listen', '127.0.0.1:0', ...extra], {
      cwd: dir,
      env: { ...process.env, KEYLEDGER_ACTOR: 'e2e@test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 30_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (https?:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: m[1], stderr: () => err, exited });
      }
    });
    void exited.then((code) => reject(new Error(`serve exited (${code}): ${err}`)));
  });

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
  });

/** The state haproxy's stats page gives each server of the backend (UP, DOWN, …). */
const states = async (statsPort: number): Promise<Record<string, string>> => {
  const csv = await (await fetch(`http://127.0.0.1:${statsPort}/stats;csv`)).text();
  const out: Record<string, string> = {};
  for (const line of csv.split('\n')) {
    const [proxy, name, ...rest] = line.split(',');
    if (proxy === 'reportservers' && (name === 'a' || name === 'b')) out[name] = rest[15] ?? ''; // column 18: status
  }
  return out;
};

const until = async (what: string, ok: () => Promise<boolean>, ms = 30_000): Promise<void> => {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await ok()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

test('haproxy checks GET /reportserver: the waiting instance down, the activated one up, then up once joined', async (t) => {
  t.timeout(180_000);
  t.truthy(HAPROXY, "haproxy is missing: install Debian's haproxy package (apt-get install haproxy; .ci/run does it)");
  const dir = tempDir('kl-haproxy');
  for (const n of ['A', 'B']) t.is((await keyledger(dir, '-c', `${n}.json`, 'config', 'new', '--instance', n, '--machine', `RS-${n}`)).code, 0);
  t.is((await keyledger(dir, '-c', 'A.json', 'init')).code, 0);
  t.is((await keyledger(dir, '-c', 'B.json', 'init')).code, 1, 'B waits to join');
  const a = await serve(dir, 'A.json');
  const b = await serve(dir, 'B.json');
  const front = await freePort();
  const stats = await freePort();
  const cfg = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(
    cfg,
    [
      'global',
      '  maxconn 100',
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 10s',
      '  timeout server 10s',
      'frontend reportserver',
      `  bind 127.0.0.1:${front}`,
      '  default_backend reportservers',
      'backend reportservers',
      '  option httpchk GET /reportserver',
      '  http-check expect status 200',
      `  server a ${new URL(a.url).host} check inter 200ms fall 2 rise 2`,
      `  server b ${new URL(b.url).host} check inter 200ms fall 2 rise 2`,
      'frontend stats',
      `  bind 127.0.0.1:${stats}`,
      '  stats enable',
      '  stats uri /stats',
      '',
    ].join('\n'),
  );
  const haproxy = spawn(HAPROXY ?? 'haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let haproxyLog = '';
  haproxy.stderr.on('data', (d: Buffer) => (haproxyLog += d.toString()));
  t.teardown(() => {
    haproxy.kill('SIGKILL');
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
  });
  try {
    await until('A up and B down', async () => {
      const s = await states(stats).catch(() => ({}) as Record<string, string>);
      return s['a'] === 'UP' && s['b'] === 'DOWN';
    });
  } catch (e) {
    t.fail(`${(e as Error).message}: ${JSON.stringify(await states(stats).catch(() => ({})))} ${haproxyLog}`);
    return;
  }
  // Through the load balancer, every request reaches the activated instance.
  const aId = (JSON.parse(fs.readFileSync(path.join(dir, 'A.json'), 'utf8')) as { installationId: string }).installationId;
  const bId = (JSON.parse(fs.readFileSync(path.join(dir, 'B.json'), 'utf8')) as { installationId: string }).installationId;
  for (let i = 0; i < 4; i++) t.regex(await (await fetch(`http://127.0.0.1:${front}/reportserver`)).text(), new RegExp(`installation ${aId}`));
  const down = await fetch(`${b.url}/reportserver`, { headers: { accept: 'application/json' } });
  t.is(down.status, 503);
  t.like(await down.json(), { error: 'RSReportServerNotActivated', state: 'waiting-to-join' });

  // Joined from A: B's server sees its copy in the live view, runs its start check, and answers 200.
  t.is((await keyledger(dir, '-c', 'A.json', 'join', bId, '--expect-thumbprint', keystoreThumbprint(path.join(dir, 'B.json')))).code, 0);
  await until('B up', async () => (await states(stats))['b'] === 'UP');
  t.deepEqual(await states(stats), { a: 'UP', b: 'UP' });
  const seen = new Set<string>();
  for (let i = 0; i < 8; i++) seen.add((await (await fetch(`http://127.0.0.1:${front}/reportserver`)).text()).trim());
  t.deepEqual([...seen].sort(), [`activated: installation ${aId}, symmetric key version 1`, `activated: installation ${bId}, symmetric key version 1`].sort());

  // SIGTERM: each server stops by itself, exit 0, saying so.
  a.child.kill('SIGTERM');
  b.child.kill('SIGTERM');
  t.is(await a.exited, 0);
  t.is(await b.exited, 0);
  t.regex(a.stderr(), /SIGTERM: stopping/);
  await until('haproxy marks both down', async () => {
    const s = await states(stats);
    return s['a'] === 'DOWN' && s['b'] === 'DOWN';
  });
});

test('serve over TLS (--tls-cert, --tls-key), and a graceful stop on SIGTERM', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('kl-serve-tls');
  t.is((await keyledger(dir, 'config', 'new', '--instance', 'TLS')).code, 0);
  t.is((await keyledger(dir, 'init')).code, 0);
  const made = await new Promise<number | null>((resolve) =>
    spawn(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { cwd: dir, stdio: 'ignore' },
    ).on('close', resolve),
  );
  t.is(made, 0, 'openssl made a self-signed certificate');
  t.is((await keyledger(dir, 'serve', '--tls-cert', 'cert.pem')).code, 2, 'a certificate without its key is refused');
  const s = await serve(dir, 'keyledger.config.json', '--tls-cert', 'cert.pem', '--tls-key', 'key.pem');
  t.teardown(() => s.child.kill('SIGKILL'));
  t.regex(s.url, /^https:\/\//);
  const ca = fs.readFileSync(path.join(dir, 'cert.pem'));
  const get = (url: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) =>
      https
        .get(url, { ca }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject),
    );
  const ping = await get(`${s.url}/reportserver`);
  t.is(ping.status, 200);
  t.regex(ping.body, /^activated: installation /);
  s.child.kill('SIGTERM');
  t.is(await s.exited, 0);
  await t.throwsAsync(get(`${s.url}/reportserver`), undefined, 'it no longer listens');
});

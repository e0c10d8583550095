/**
 * Answers that can't lie: one regression test per wrong answer of issue 7,
 * through the CLI in process on a shared SQLite ledger. The races (1 and 4)
 * are forced at both interleavings with the pause points
 * (KEYLEDGER_PAUSE_AT / KEYLEDGER_PAUSE_FILE, src/infra/pause.ts), not by luck.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { initInstance, startInstance } from '../src/commands/instance';
import { type DeploymentId, deploymentStream, instanceStream } from '../src/domain/ids';
import { loadConfig } from '../src/infra/config';
import { fileKeystore } from '../src/infra/file-keystore';
import { cli, cliWithEnv, type InProcResult } from './support/cli-inproc';
import { initStoppedAfter } from './support/interrupted';
import { depsFor, openTestStore, rightOf, tempDir } from './support/fixtures';
import { activatedDeployment, deploymentEvents, editConfig, instanceEvents, joinArgs, ledgerFile, newNode, type TestNode } from './support/nodes';
import { rowOf, tamper } from './support/tamper';

interface StatusJson {
  state: string;
  activated: boolean;
  completedSteps?: number;
  reason?: { _tag: string };
  message?: string;
  remedy?: { kind: string; steps: Array<{ on: string; args: Array<string | { placeholder: string }>; command: string }> };
  findings: Array<{ kind: string; evidence: Record<string, unknown> }>;
}

const status = async (n: TestNode): Promise<{ code: number; s: StatusJson }> => {
  const r = await n.run('--json', 'status');
  return { code: r.code, s: r.json<StatusJson>() };
};

/** Runs `first` until it reaches `point`, holds it there, runs `second` to completion, then lets `first` finish. */
const interleave = async (
  dir: string,
  point: string,
  first: (env: Record<string, string>) => Promise<InProcResult>,
  second: () => Promise<InProcResult>,
): Promise<[InProcResult, InProcResult]> => {
  const gate = path.join(dir, `gate-${Math.random().toString(36).slice(2)}`);
  const held = first({ KEYLEDGER_PAUSE_AT: point, KEYLEDGER_PAUSE_FILE: gate });
  for (let i = 0; i < 6000 && !fs.existsSync(`${gate}.reached`); i++) await new Promise((r) => setTimeout(r, 5));
  if (!fs.existsSync(`${gate}.reached`)) throw new Error(`the first command never reached ${point}`);
  const done = await second();
  fs.writeFileSync(gate, 'go');
  return [await held, done];
};

const clone = (n: TestNode, dir: string, patch: Record<string, unknown> = {}): TestNode => {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, path.basename(n.file));
  const cfg = JSON.parse(fs.readFileSync(n.file, 'utf8')) as Record<string, unknown>;
  // The same config on another machine: relative paths resolve there, so the ledger is pointed at the shared file.
  fs.writeFileSync(file, JSON.stringify({ ...cfg, store: `sqlite:${ledgerFile(n.dir)}`, ...patch }, null, 2));
  return { ...n, file, keystore: path.resolve(dir, String(cfg['keystore'])), run: (...args: string[]) => cli('-c', file, ...args) };
};

// ─── 1. A removed instance shows as activated ─────────────────────────────

for (const order of ['start appends after the removal', 'remove appends after the activation'] as const) {
  test(`1. start racing remove (${order}): the removed instance is removed, never activated`, async (t) => {
    t.timeout(60_000);
    const dir = tempDir('kl-ans');
    const [a, b] = await activatedDeployment(dir, ['A', 'B']);
    // B starts from another host than before, so its start has something new to record (and reaches the append).
    const startB = (env: Record<string, string> = {}) => cliWithEnv({ KEYLEDGER_HOST: 'moved-host', ...env }, '-c', b!.file, 'start');
    const removeB = (env: Record<string, string> = {}) => cliWithEnv(env, '-c', a!.file, 'remove', b!.id);
    if (order === 'start appends after the removal') {
      const [started, removed] = await interleave(dir, 'start:before-append:InstanceActivated', startB, () => removeB());
      t.is(removed.code, 0, removed.stderr);
      t.is(started.code, 0, 'start decided on the deployment before the removal');
      const events = await instanceEvents(dir, b!.id);
      t.is(events.at(-1)?.event.type, 'InstanceActivated', 'the stale activation did land after the removal');
    } else {
      const [removed, started] = await interleave(dir, 'remove:before-append:InstanceRemoved', removeB, () => startB());
      t.is(started.code, 0);
      t.is(removed.code, 0, removed.stderr);
    }
    const { code, s } = await status(b!);
    t.is(s.state, 'removed');
    t.is(code, 1);
    const list = (await a!.run('--json', 'list')).json<Array<{ installationId: string; state: string }>>();
    t.is(list.find((r) => r.installationId === b!.id)?.state, 'removed');
    t.is((await b!.run('start')).code, 1, 'and its next start is refused');
  });
}

// ─── 2. A stale refusal survives a join ───────────────────────────────────

test('2. a NoWrappedCopy refusal recorded before a join no longer describes the instance after it', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-ans');
  const [a] = await activatedDeployment(dir, ['A']);
  const b = await newNode(dir, 'B');
  t.is((await b.run('init')).code, 1);
  t.is((await b.run('start')).code, 1);
  t.is((await instanceEvents(dir, b.id)).at(-1)?.event.type, 'InstanceActivationRefused');
  t.is((await a!.run(...joinArgs(b))).code, 0);
  const { code, s } = await status(b);
  t.is(code, 1);
  t.is(s.state, 'initializing', 'joined, not yet proven: not "disabled … join it"');
  t.is(s.completedSteps, 4);
  t.deepEqual(
    s.remedy?.steps.map((x) => x.command),
    ['keyledger start'],
  );
  t.notRegex(s.message ?? '', /join/);
  t.is((await b.run('start')).code, 0);
  t.is((await status(b)).s.state, 'activated');
});

// ─── 3. A clone disables the original ─────────────────────────────────────

test('3. a config copied to another machine: the clone is refused, the original stays activated and can still sponsor; the finding shows on both', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-ans');
  const [a] = await activatedDeployment(dir, ['A']);
  const copy = clone(a!, path.join(dir, 'machine-b'));
  const refused = await cliWithEnv({ KEYLEDGER_HOST: 'machine-b' }, '-c', copy.file, '--json', 'start');
  t.is(refused.code, 1);
  t.is(refused.json<{ reason: { _tag: string; keystorePath: string } }>().reason._tag, 'KeystoreUnavailable');

  const original = await status(a!);
  t.is(original.code, 0, original.s.message);
  t.is(original.s.state, 'activated', 'the holder is not disabled by what another machine presented');
  t.is(original.s.reason, undefined, "nor does its state carry the clone's refusal (its keystore path is evidence in the finding only)");
  t.is(original.s.message, undefined);
  t.deepEqual(
    original.s.findings.map((f) => f.kind),
    ['InstallationClaimedByTwoMachines'],
  );
  t.deepEqual(
    (await status(copy)).s.findings.map((f) => f.kind),
    ['InstallationClaimedByTwoMachines'],
    "the same finding from the clone's side",
  );

  // The original sponsors a join without restarting.
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  const join = await a!.run(...joinArgs(c));
  t.is(join.code, 0, join.stderr);
  t.is((await c.run('start')).code, 0);
});

// ─── 4. Two machines claiming one installation ID ─────────────────────────

/** One config on two machines with a keystore each (the same file content; relative keystore paths resolve apart). */
const twoKeystores = async (dir: string): Promise<[TestNode, TestNode]> => {
  const x = await newNode(dir, 'X');
  return [x, clone(x, path.join(dir, 'second'))];
};

for (const [label, point] of [
  ["the held init's key pair lands after the other has initialized and activated", 'init:before-append:KeyPairIssued'],
  ["the held init's activation lands after the other was refused", 'init:before-append:InstanceActivated'],
] as const) {
  test(`4. two inits from one config with different keystores (${label}): InstallationClaimedByTwoMachines, whichever wins`, async (t) => {
    t.timeout(60_000);
    const dir = tempDir('kl-ans');
    const [x, y] = await twoKeystores(dir);
    const [held, other] = await interleave(
      dir,
      point,
      (env) => cliWithEnv(env, '-c', x.file, 'init'),
      () => y.run('init'),
    );
    t.deepEqual([held.code, other.code].sort(), [0, 1], `${held.stdout}\n${other.stdout}`);
    const starts = [await x.run('start'), await y.run('start')].map((r) => r.code).sort();
    t.deepEqual(starts, [0, 1], 'exactly one of the two holds the registered key pair');
    for (const n of [x, y]) {
      const { s } = await status(n);
      t.is(s.state, 'activated', 'the registered holder is activated');
      t.deepEqual(
        s.findings.map((f) => f.kind),
        ['InstallationClaimedByTwoMachines'],
      );
    }
  });
}

// ─── 5. start after an interrupted first init ─────────────────────────────

for (const crashAfter of [1, 2, 3]) {
  test(`5. start after init stopped at step ${crashAfter}: "initialization incomplete", remedy init, nothing recorded`, async (t) => {
    t.timeout(60_000);
    const dir = tempDir('kl-ans');
    const n = await newNode(dir, 'A');
    await initStoppedAfter(t, n, crashAfter);
    const before = (await instanceEvents(dir, n.id)).length;
    const start = await n.run('--json', 'start');
    t.is(start.code, 1);
    const o = start.json<{ state: string; completedSteps: number; remedy: { steps: Array<{ command: string }> } }>();
    t.is(o.state, 'initializing');
    t.is(o.completedSteps, crashAfter);
    t.deepEqual(
      o.remedy.steps.map((x) => x.command),
      ['keyledger init'],
    );
    t.regex(
      (await n.run('start')).stdout,
      new RegExp(`initialization of installation ${n.id} is incomplete: ${crashAfter} of 5 steps recorded.*keyledger init`),
    );
    t.is((await instanceEvents(dir, n.id)).length, before, 'start records no refusal for an unfinished init');
    const s = (await status(n)).s;
    t.is(s.state, 'initializing');
    t.regex(s.message ?? '', new RegExp(`initialization stopped after step ${crashAfter} of 5.*keyledger init`));
    t.is((await n.run('init')).code, 0);
  });
}

// ─── 7. change-identity keeps the key size ────────────────────────────────

test('7. change-identity never downgrades the key size (3072 stays 3072)', async (t) => {
  t.timeout(90_000);
  const dir = tempDir('kl-ans');
  const n = await newNode(dir, 'A');
  t.is((await n.run('init', '--key-size', '3072')).code, 0);
  const moved = await n.run('change-identity', 'svc-reports');
  t.is(moved.code, 0, moved.stderr);
  const changed = (await instanceEvents(dir, n.id)).find((e) => e.event.type === 'ServiceIdentityChanged');
  t.is(changed?.event.type === 'ServiceIdentityChanged' ? changed.event.data.keySize : undefined, 3072);
  const cfg = rightOf(loadConfig(n.file));
  const held = await fileKeystore(cfg.instance.keystorePath).load({ installationId: n.id, serviceIdentity: 'svc-reports' })();
  t.is(E.isRight(held) ? held.right.keySize : undefined, 3072);
});

// ─── 8. A damaged ledger is trusted ───────────────────────────────────────

test('8. one character of a stored thumbprint changed: remove refuses to append on the damaged stream (exit 4, stream and revision named)', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-ans');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const stream = deploymentStream('default' as DeploymentId);
  const before = await deploymentEvents(dir);
  const row = rowOf(ledgerFile(dir), stream, 0);
  const data = JSON.parse(row.data) as { thumbprint: string };
  const flipped = `${data.thumbprint[0] === 'A' ? 'B' : 'A'}${data.thumbprint.slice(1)}`;
  t.is(
    tamper(
      ledgerFile(dir),
      'UPDATE events SET data = ? WHERE stream_name = ? AND stream_revision = 0',
      JSON.stringify({ ...data, thumbprint: flipped }),
      stream,
    ),
    1,
  );
  const removed = await a!.run('remove', b!.id);
  t.is(removed.code, 4, removed.stderr);
  t.regex(removed.stderr, new RegExp(`${stream.replace('.', '\\.')}@0 .*does not match its hash`));
  t.is((await deploymentEvents(dir).catch(() => before)).length, before.length, 'nothing appended');
  fs.rmSync(path.join(dir, '.keyledger', 'projections.db'), { force: true });
  for (const cmd of ['status', 'list'] as const) t.is((await a!.run(cmd)).code, 4, `${cmd} on the damaged ledger`);
});

// ─── 10. A refusal is recorded when it says something new ─────────────────

test('10. re-running init (and start) on a disabled instance records its refusal once', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-ans');
  const [, b] = await activatedDeployment(dir, ['A', 'B']);
  fs.rmSync(b!.keystore);
  const count = async (): Promise<number> => (await instanceEvents(dir, b!.id)).filter((e) => e.event.type === 'InstanceActivationRefused').length;
  for (const cmd of ['init', 'init', 'start', 'init', 'start'] as const) t.is((await b!.run(cmd)).code, 1);
  t.is(await count(), 1);
  editConfig(b!, { keystore: './elsewhere/instance.keystore.json' });
  t.is((await b!.run('start')).code, 1);
  t.is(await count(), 2, 'another keystore presented: another fact');
});

// ─── The handler's cost ───────────────────────────────────────────────────

test('the command handler: an init reads each stream once, a join once, a start once (no reload after its own appends)', async (t: ExecutionContext) => {
  t.timeout(60_000);
  const dir = tempDir('kl-ans');
  const n = await newNode(dir, 'A');
  const cfg = rightOf(loadConfig(n.file));
  const store = openTestStore(ledgerFile(dir));
  let reads = 0;
  const counting: typeof store = {
    endpoint: store.endpoint,
    append: (s, e, x) => store.append(s, e, x),
    readStream: (s, o) => {
      reads += 1;
      return store.readStream(s, o);
    },
    readAll: (o) => store.readAll(o),
    subscribeToAll: (o) => store.subscribeToAll(o),
    close: () => store.close(),
  };
  const init = rightOf(await initInstance(depsFor(counting, cfg.instance), cfg.instance));
  t.is(init.state, 'activated');
  t.is(init.loads, 2, 'one load of the instance stream and one of the deployment stream for all five steps');
  t.is(reads, 2);
  const start = rightOf(await startInstance(depsFor(counting, cfg.instance, 'start'), cfg.instance));
  t.is(start.loads, 2);
  await store.close();
  t.true(fs.existsSync(ledgerFile(dir)));
  t.is((await instanceEvents(dir, n.id)).map((e) => e.event.type).join(','), 'ConfigRead,KeyPairIssued,InstanceActivated');
  t.is(instanceStream(n.id), `keyledger.instance-${n.id}`);
});

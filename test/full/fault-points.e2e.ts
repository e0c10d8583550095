/**
 * Issue 11, the fault-point harness: every named point of every multi-step
 * command (KEYLEDGER_POINTS_FILE lists them as a run passes them) is a place the
 * real binary is SIGKILLed (KEYLEDGER_KILL_AT). After each kill the same command
 * is run again, and the invariants must hold: one symmetric key, every member's
 * copy unwraps (its start activates), `verify --signatures` finds nothing, no
 * keystore temp file is left behind, and the command's own goal is reached.
 * The point lists are discovered from a run, so a point added later is covered.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runNode, CLI } from '../support/cli';
import { tempDir } from '../support/fixtures';
import { instanceStream } from '../../src/domain/ids';
import { cliWith, cliWithEnv } from '../support/cli-inproc';
import { toLegacyKeystore, toLegacyLedger } from '../support/legacy';
import {
  activatedDeployment,
  deploymentEvents,
  instanceEvents,
  joinArgs,
  keystoreThumbprint,
  ledgerFile,
  newNode,
  type TestNode,
  withLedger,
} from '../support/nodes';
import Database from 'better-sqlite3';
import { reindex, tamper } from '../support/tamper';
import { BACKUP_PASSWORD, backup, FAST, restore } from '../support/backups';

interface Scenario {
  readonly name: string;
  /** The deployment before the command, built in process; returns the node that runs the command and its arguments. */
  readonly setup: (dir: string) => Promise<{ node: TestNode; args: ReadonlyArray<string>; members: ReadonlyArray<TestNode> }>;
  /** Exit code the command ends with when it completes. */
  readonly done: number;
  /** The event the command exists to record: in the ledger once the rerun completes (the audit trail is whole). */
  readonly records?: { readonly type: string; readonly in: 'instance' | 'deployment' };
  /** What `verify --signatures` needs beyond (a migrated ledger: the genesis its operators confirmed). */
  readonly verifyArgs?: (members: ReadonlyArray<TestNode>) => string[];
  /** What must hold right after the kill, before the rerun (members as setup returned them). */
  readonly afterKill?: (t: ExecutionContext, members: ReadonlyArray<TestNode>, label: string) => Promise<void>;
  /**
   * Points after the command's last record (it died on its way out, its work done): no rerun there — a command that
   * is not idempotent by design (recreate: each run a new key version) would rightly do it again.
   */
  readonly finishedAt?: ReadonlyArray<string>;
  /** Key versions created once the rerun completed (SymmetricKeyCreated events; default 1). */
  readonly keys?: number;
  /** What must hold once the rerun completed, beside the common invariants. */
  readonly afterRerun?: (t: ExecutionContext, members: ReadonlyArray<TestNode>, label: string) => Promise<void>;
  /** What the operator does after the command before the common invariants can hold (delete-content: initialize afresh, re-join). */
  readonly settle?: (members: ReadonlyArray<TestNode>) => Promise<void>;
}

const RECREATED_SECRETS = [
  ['reportserver/datasource/sales', 'Server=db1;Password=Tr0ub4dor&3'],
  ['delivery/smtp', 'smtp-pass-42'],
  ['delivery/fileshare', 'share-pass-7'],
] as const;

const DELETED_SECRETS = [
  ['reportserver/datasource/sales', 'Server=db1;Password=Tr0ub4dor&3'],
  ['delivery/smtp', 'smtp-pass-42'],
  ['delivery/fileshare', 'share-pass-7'],
] as const;

/** The names the content stream records as destroyed (SecretsDestroyed). */
const destroyedNames = async (dir: string): Promise<string[]> =>
  (await withLedger(dir, (read) => read('keyledger.content-default'))).flatMap((e) =>
    e.event.type === 'SecretsDestroyed' ? e.event.data.secrets.map((s) => s.name) : [],
  );

const RESTORED_SECRETS = [
  ['reportserver/datasource/sales', 'Server=db1;Password=Tr0ub4dor&3'],
  ['delivery/smtp', 'smtp-pass-42'],
] as const;

/** The key version each content-store row's JWE header names (kl_ver). */
const contentKeyVersions = (dir: string): number[] => {
  const db = new (require('better-sqlite3') as typeof import('better-sqlite3'))(ledgerFile(dir), { readonly: true });
  try {
    return (db.prepare('SELECT jwe FROM keyledger_content').all() as Array<{ jwe: string }>).map(
      (r) => (JSON.parse(Buffer.from(r.jwe.split('.')[0] ?? '', 'base64url').toString('utf8')) as { kl_ver: number }).kl_ver,
    );
  } finally {
    db.close();
  }
};

/** `secret get NAME --reveal` on a member, in process. */
const reveal = async (n: TestNode, name: string): Promise<string> => {
  const r = await cliWith({}, '-c', n.file, 'secret', 'get', name, '--reveal');
  return r.code === 0 ? r.stdout : `<exit ${r.code}: ${r.stderr.trim()}>`;
};

const SCENARIOS: ReadonlyArray<Scenario> = [
  {
    name: 'init (a deployment’s first instance)',
    setup: async (dir) => {
      const a = await newNode(dir, 'A');
      return { node: a, args: ['init'], members: [a] };
    },
    done: 0,
  },
  {
    name: 'init (a newcomer, waiting to join)',
    setup: async (dir) => {
      const [a] = await activatedDeployment(dir, ['A']);
      const b = await newNode(dir, 'B');
      return { node: b, args: ['init'], members: [a!] };
    },
    done: 1,
  },
  {
    name: 'join',
    setup: async (dir) => {
      const [a] = await activatedDeployment(dir, ['A']);
      const b = await newNode(dir, 'B');
      if ((await b.run('init')).code !== 1) throw new Error('B should wait');
      return { node: a!, args: joinArgs(b), members: [a!, b] };
    },
    done: 0,
  },
  {
    name: 'change-identity',
    setup: async (dir) => {
      const [a, b] = await activatedDeployment(dir, ['A', 'B']);
      return { node: b!, args: ['change-identity', 'svc-new'], members: [a!, b!] };
    },
    done: 0,
  },
  {
    name: 'remove',
    setup: async (dir) => {
      const [a, b] = await activatedDeployment(dir, ['A', 'B']);
      return { node: a!, args: ['remove', b!.id], members: [a!] };
    },
    done: 0,
  },
  {
    name: 'start (a newcomer whose copy was just wrapped)',
    setup: async (dir) => {
      const [a] = await activatedDeployment(dir, ['A']);
      const b = await newNode(dir, 'B');
      if ((await b.run('init')).code !== 1) throw new Error('B should wait');
      if ((await a!.run(...joinArgs(b))).code !== 0) throw new Error('the join failed');
      return { node: b, args: ['start'], members: [a!, b] };
    },
    done: 0,
  },
  {
    name: 'accept-rollback (the ledger lost an event this instance relied on)',
    setup: async (dir) => {
      const [a, b] = await activatedDeployment(dir, ['A', 'B']);
      // A records one more outcome (started on another host), then the ledger loses it (restored from an older copy).
      if ((await cliWithEnv({ KEYLEDGER_HOST: 'another-host' }, '-c', a!.file, 'start')).code !== 0) throw new Error('A should start');
      const stream = instanceStream(a!.id);
      const file = ledgerFile(dir);
      tamper(
        file,
        'DELETE FROM events WHERE stream_name = ? AND stream_revision = (SELECT max(stream_revision) FROM events WHERE stream_name = ?)',
        stream,
        stream,
      );
      tamper(file, 'UPDATE streams SET revision = revision - 1 WHERE stream_name = ?', stream);
      reindex(file); // an older copy of the store has the tree index of its own events (ADR 0018)
      const endsAt = (await instanceEvents(dir, a!.id)).length - 1;
      return { node: a!, args: ['accept-rollback', '--to', `${stream}@${endsAt}`], members: [a!, b!] };
    },
    done: 0,
    records: { type: 'LedgerRollbackAccepted', in: 'instance' },
    // A also co-signed the tree head that held the lost event (ADR 0018): its operator accepts that fork too, as LedgerForked's remedy says.
    settle: async ([a]) => {
      const forked = await a!.run('--json', 'start');
      if (forked.code !== 4) return;
      const size = /accept-rollback --tree (\d+)/.exec(forked.stdout + forked.stderr)?.[1];
      if (size === undefined || (await a!.run('accept-rollback', '--tree', size)).code !== 0) throw new Error(`accept-rollback --tree: ${forked.stderr}`);
    },
  },
  {
    name: 'trust --declare-genesis (a ledger from before signatures)',
    setup: async (dir) => {
      const [a, b] = await activatedDeployment(dir, ['A', 'B']);
      toLegacyLedger(ledgerFile(dir));
      for (const n of [a!, b!]) await toLegacyKeystore(n);
      return { node: a!, args: ['trust', '--declare-genesis'], members: [a!] };
    },
    done: 0,
    records: { type: 'GenesisDeclared', in: 'deployment' },
    // Unsigned key events before the genesis are history when the genesis is the one its operators confirmed.
    verifyArgs: (members) => ['--expect-genesis', keystoreThumbprint(members[0]!.file)],
  },
  {
    name: 'secret put (a new value for a secret, beside another)',
    setup: async (dir) => {
      const [a, b] = await activatedDeployment(dir, ['A', 'B']);
      for (const [name, value] of [
        ['other', 'value-of-other'],
        ['s1', 'first-value'],
      ] as const)
        if ((await cliWith({ stdin: value }, '-c', a!.file, 'secret', 'put', name)).code !== 0) throw new Error(`put ${name}`);
      const file = path.join(dir, 'new-value.txt');
      fs.writeFileSync(file, 'second-value');
      return { node: a!, args: ['secret', 'put', 's1', '--file', file], members: [a!, b!] };
    },
    done: 0,
    afterKill: async (t, [a, b], label) => {
      t.is(await reveal(b!, 'other'), 'value-of-other', `${label}: the other secret decrypts after the crash`);
      t.true(['first-value', 'second-value'].includes(await reveal(a!, 's1')), `${label}: s1 decrypts after the crash, old or new value`);
    },
    afterRerun: async (t, [a, b], label) => {
      t.is(await reveal(b!, 's1'), 'second-value', `${label}: the rerun stored the new value`);
      t.is(await reveal(a!, 'other'), 'value-of-other', `${label}: the other secret is untouched`);
    },
  },
  {
    name: 'restore (the last member was removed; a new instance restores the backup and becomes the genesis)',
    setup: async (dir) => {
      const [a] = await activatedDeployment(dir, ['A']);
      for (const [name, value] of RESTORED_SECRETS)
        if ((await cliWith({ stdin: value }, '-c', a!.file, 'secret', 'put', name)).code !== 0) throw new Error(`put ${name}`);
      const file = path.join(dir, 'rs-key.snk');
      if ((await backup(a!, file)).code !== 0) throw new Error('the backup failed');
      if ((await a!.run('remove', '--force', a!.id)).code !== 0) throw new Error('the removal failed');
      const c = await newNode(dir, 'C');
      if ((await c.run('init')).code !== 1) throw new Error('C should wait');
      const password = path.join(dir, 'password.txt');
      fs.writeFileSync(password, `${BACKUP_PASSWORD}\n`, { mode: 0o600 });
      return { node: c, args: ['restore', '-f', file, '--password-file', password], members: [c] };
    },
    done: 0,
    records: { type: 'KeyRestored', in: 'deployment' },
    afterRerun: async (t, [c], label) => {
      for (const [name, value] of RESTORED_SECRETS) t.is(await reveal(c!, name), value, `${label}: ${name} decrypts after the restore`);
    },
  },
  {
    name: 'backup (--force over an earlier file)',
    setup: async (dir) => {
      const [a, b] = await activatedDeployment(dir, ['A', 'B']);
      const file = path.join(dir, 'rs-key.snk');
      fs.writeFileSync(file, 'an earlier file');
      const password = path.join(dir, 'password.txt');
      fs.writeFileSync(password, BACKUP_PASSWORD, { mode: 0o600 });
      return { node: a!, args: ['backup', '-f', file, '--password-file', password, '--force'], members: [a!, b!] };
    },
    done: 0,
    afterKill: async (t, [a], label) => {
      // The file is the earlier one or a whole backup, never half of one.
      const text = fs.readFileSync(path.join(a!.dir, 'rs-key.snk'), 'utf8');
      t.true(text === 'an earlier file' || text.split('.').length === 5, `${label}: the file is whole`);
    },
    afterRerun: async (t, [, b], label) => {
      const r = await restore(b!, path.join(b!.dir, 'rs-key.snk'));
      t.is(r.code, 0, `${label}: the backup restores: ${r.stderr}`);
    },
  },
  {
    name: 'recreate (a new key version, every secret re-encrypted, the old one retired)',
    setup: async (dir) => {
      const [a, b] = await activatedDeployment(dir, ['A', 'B']);
      for (const [name, value] of RECREATED_SECRETS)
        if ((await cliWith({ stdin: value }, '-c', a!.file, 'secret', 'put', name)).code !== 0) throw new Error(`put ${name}`);
      return { node: a!, args: ['recreate'], members: [a!, b!] };
    },
    done: 0,
    keys: 2,
    // After the retirement the job is done (then this instance's start check runs, which any later start repeats).
    finishedAt: ['recreate:after-append:KeyVersionRetired', 'recreate:before-append:InstanceActivated', 'recreate:after-append:InstanceActivated'],
    records: { type: 'KeyVersionRetired', in: 'deployment' },
    afterKill: async (t, members, label) => {
      // Whatever the step it stopped at, every secret decrypts on every member (old version or new).
      for (const m of members) for (const [name, value] of RECREATED_SECRETS) t.is(await reveal(m, name), value, `${label}: ${name} on ${m.name}`);
    },
    afterRerun: async (t, members, label) => {
      for (const m of members) for (const [name, value] of RECREATED_SECRETS) t.is(await reveal(m, name), value, `${label}: ${name} on ${m.name}`);
      const list = await cliWith({}, '-c', members[0]!.file, '--json', 'secret', 'list');
      t.true(
        list.json<Array<{ keyVersion: number }>>().every((x) => x.keyVersion === 2),
        `${label}: every secret is under version 2`,
      );
      // No ciphertext under version 1 is left in the content store (a run killed between recording a batch and removing
      // what it superseded leaves them: the rerun removes them); unreferenced ones under version 2 may remain.
      const versions = contentKeyVersions(members[0]!.dir);
      t.false(versions.includes(1), `${label}: content rows under key versions ${versions.join(', ')}`);
    },
  },
  {
    name: 'delete-content (every secret destroyed, the key version with them)',
    setup: async (dir) => {
      const [a, b] = await activatedDeployment(dir, ['A', 'B']);
      for (const [name, value] of DELETED_SECRETS)
        if ((await cliWith({ stdin: value }, '-c', a!.file, 'secret', 'put', name)).code !== 0) throw new Error(`put ${name}`);
      return { node: b!, args: ['delete-content', '--confirm', 'default'], members: [a!, b!] };
    },
    done: 0,
    keys: 2,
    records: { type: 'EncryptedContentDeleted', in: 'deployment' },
    afterKill: async (t, members, label) => {
      // Each secret: still readable (its key not destroyed yet), or gone with its destruction recorded.
      const dir = members[0]!.dir;
      const gone = await destroyedNames(dir);
      for (const m of members)
        for (const [name, value] of DELETED_SECRETS) {
          const r = await cliWith({}, '-c', m.file, 'secret', 'get', name, '--reveal');
          if (r.code === 0) t.is(r.stdout, value, `${label}: ${name} on ${m.name} is its value`);
          else t.true(gone.includes(name), `${label}: ${name} on ${m.name} is gone only with its destruction recorded (exit ${r.code}: ${r.stderr})`);
        }
    },
    // The operator initializes the deployment afresh (on A, its genesis: B's pin holds) and joins B: then every start activates.
    settle: async ([a, b]) => {
      for (const [n, args, code] of [
        [a!, ['init'], 0],
        [b!, ['init'], 1],
        [a!, joinArgs(b!), 0],
      ] as const) {
        const r = await n.run(...args);
        if (r.code !== code) throw new Error(`${args.join(' ')} on ${n.name}: exit ${r.code}: ${r.stdout}${r.stderr}`);
      }
    },
    afterRerun: async (t, members, label) => {
      const dir = members[0]!.dir;
      t.deepEqual((await destroyedNames(dir)).sort(), DELETED_SECRETS.map(([n]) => n).sort(), `${label}: each secret destroyed once, by name`);
      const list = await cliWith({}, '-c', members[0]!.file, '--json', 'secret', 'list');
      t.deepEqual(list.json(), [], `${label}: no secret left`);
      const db = new Database(ledgerFile(dir), { readonly: true });
      t.is(db.prepare('SELECT count(*) FROM keyledger_content').pluck().get(), 0, `${label}: no ciphertext left in the content store`);
      db.close();
    },
  },
];

const child = (node: TestNode, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  runNode(CLI, ['-c', node.file, ...args], { cwd: node.dir, env: { ...FAST, ...env }, timeoutMs: 60_000 });

const leftovers = (dir: string): string[] =>
  fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.tmp-\d+/.test(path.basename(f)) && !f.includes('.keyledger'));

const checkInvariants = async (
  t: ExecutionContext,
  dir: string,
  members: ReadonlyArray<TestNode>,
  label: string,
  verifyArgs: string[] = [],
  keys = 1,
): Promise<void> => {
  const created = (await deploymentEvents(dir)).filter((e) => e.event.type === 'SymmetricKeyCreated');
  t.is(created.length, keys, `${label}: ${keys} symmetric key version(s)`);
  for (const m of members) {
    const s = await m.run('start');
    t.is(s.code, 0, `${label}: ${m.name} activates: ${s.stdout}${s.stderr}`);
  }
  const v = await members[0]!.run('verify', '--signatures', ...verifyArgs);
  t.is(v.code, 0, `${label}: verify --signatures: ${v.stdout}`);
  t.deepEqual(leftovers(dir), [], `${label}: no keystore temp file left`);
};

for (const sc of SCENARIOS) {
  test(`every fault point of ${sc.name}: killed there, run again, the invariants hold`, async (t) => {
    t.timeout(600_000);
    // Discover the points this command passes.
    const probe = tempDir('kl-fp');
    const { node, args } = await sc.setup(probe);
    const list = path.join(probe, 'points.txt');
    const first = await child(node, args, { KEYLEDGER_POINTS_FILE: list });
    t.is(first.code, sc.done, first.stderr);
    const points = [
      ...new Set(
        fs
          .readFileSync(list, 'utf8')
          .split('\n')
          .filter((p) => p.length > 0),
      ),
    ];
    t.true(points.length > 0, 'the command passes named points');
    t.log(`${sc.name}: ${points.length} points: ${points.join(', ')}`);
    for (const point of points) {
      const dir = tempDir('kl-fp');
      const s = await sc.setup(dir);
      const killed = await child(s.node, s.args, { KEYLEDGER_KILL_AT: point });
      t.is(killed.signal, 'SIGKILL', `${point}: the process was killed there (${killed.code} ${killed.stderr})`);
      await sc.afterKill?.(t, s.members, point);
      if (!sc.finishedAt?.includes(point)) {
        const again = await s.node.run(...s.args);
        t.is(again.code, sc.done, `${point}: run again: ${again.stdout}${again.stderr}`);
      }
      await sc.settle?.(s.members);
      if (sc.records) {
        const events = sc.records.in === 'instance' ? await instanceEvents(dir, s.node.id) : await deploymentEvents(dir);
        t.is(events.filter((e) => e.event.type === sc.records!.type).length, 1, `${point}: ${sc.records.type} recorded once`);
      }
      await checkInvariants(t, dir, s.members, point, sc.verifyArgs?.(s.members), sc.keys);
      await sc.afterRerun?.(t, s.members, point);
    }
  });
}

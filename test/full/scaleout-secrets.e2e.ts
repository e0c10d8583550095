/**
 * The scale-out acceptance scenario, through the real CLI (separate configs
 * and keystores, one shared SQLite ledger): init, three joins, one removal,
 * one service identity change, and every read command (status, list, verify,
 * rskeymgmt -l, config check; text and --json). Then a secret scan: neither
 * the plain symmetric key (recovered here independently with node:crypto
 * from wrapped copies) nor any private key member (d, p, q, dp, dq, qi) of
 * any instance's current keystore — nor of the keystore the identity change
 * replaced — appears, raw or base64 / base64url / hex (at every byte
 * alignment), in any file under the deployment's folder (ledger file, its
 * -wal as captured after every command, projections.db, keyledger.log,
 * keystores, configs) or in any command's output.
 */
import { keystoreThumbprint } from '../support/nodes';
import test from 'ava';
import Database from 'better-sqlite3';
import { createHash, createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deploymentStream, type DeploymentId, type InstallationId } from '../../src/domain/ids';
import { fileKeystore } from '../../src/infra/file-keystore';
import { privateJwkOf } from '../../src/infra/jose-crypto';
import { type CliResult, keyledger } from '../support/cli';
import { openTestStore, rightOf, tempDir } from '../support/fixtures';
import { eventsOf } from '../support/ledger-reader';
import { encodings, PRIVATE_MEMBERS, unwrapWithNodeCrypto } from '../support/secrets';

interface Cfg {
  readonly installationId: InstallationId;
  readonly serviceIdentity: string;
  readonly keystore: string;
}

const filesUnder = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));

test('scale-out acceptance: init, three joins, a removal and an identity change leave no key material in the ledger, the logs or any output', async (t) => {
  t.timeout(180_000);
  const dir = tempDir('kl-scaleout-secrets');
  const stateDir = path.join(dir, '.keyledger');
  const ledgerFile = path.join(stateDir, 'ledger.db');
  const projectionsFile = path.join(stateDir, 'projections.db');

  // WAL contents are captured after every command (deduplicated), and a
  // connection is held open on both databases once they exist, so the last
  // CLI process to close does not checkpoint the -wal away before the scan.
  const walSnapshots = new Map<string, { where: string; bytes: Buffer }>();
  const held: Database.Database[] = [];
  const hold = (file: string): void => {
    if (held.some((d) => d.name === file) || !fs.existsSync(file)) return;
    const db = new Database(file);
    db.prepare('SELECT count(*) FROM sqlite_master').get(); // opens the WAL index; no transaction stays open
    held.push(db);
  };
  const captureWal = (after: string): void => {
    for (const f of [`${ledgerFile}-wal`, `${projectionsFile}-wal`]) {
      if (!fs.existsSync(f)) continue;
      const bytes = fs.readFileSync(f);
      if (bytes.length === 0) continue;
      const digest = createHash('sha256').update(bytes).digest('hex');
      if (!walSnapshots.has(digest)) walSnapshots.set(digest, { where: `${path.basename(f)} after ${after}`, bytes });
    }
  };

  const outputs: Array<{ what: string; r: CliResult }> = [];
  const run = async (expected: number, ...args: string[]): Promise<CliResult> => {
    const r = await keyledger(dir, ...args);
    outputs.push({ what: args.join(' '), r });
    t.is(r.code, expected, `keyledger ${args.join(' ')}: exit ${String(r.code)}\n${r.stdout}${r.stderr}`);
    hold(ledgerFile);
    hold(projectionsFile);
    captureWal(args.join(' '));
    return r;
  };
  const json = <T>(r: CliResult): T => JSON.parse(r.stdout) as T;
  const cfgOf = (n: string): Cfg => JSON.parse(fs.readFileSync(path.join(dir, `${n}.json`), 'utf8')) as Cfg;

  try {
    // ── The scenario ──────────────────────────────────────────────────────
    const names = ['A', 'B', 'C', 'D'];
    for (const n of names) await run(0, '-c', `${n}.json`, 'config', 'new', '--instance', n, '--machine', `RS-${n}`);
    const id = Object.fromEntries(names.map((n) => [n, cfgOf(n).installationId])) as Record<string, InstallationId>;

    await run(0, '-c', 'A.json', 'init');
    await run(0, '-c', 'A.json', '--json', 'init'); // nothing to do
    await run(1, '-c', 'B.json', 'init');
    await run(1, '-c', 'C.json', '--json', 'init');
    await run(1, '-c', 'D.json', 'init');
    await run(1, '-c', 'B.json', 'status');
    await run(1, '-c', 'A.json', '--json', 'status', id['C']!);

    // Three joins: A joins B (text); B, once activated, joins C (--json); A joins D by name (rskeymgmt -j).
    await run(0, '-c', 'A.json', 'join', id['B']!, '--expect-thumbprint', keystoreThumbprint(path.join(dir, 'B.json')));
    await run(0, '-c', 'B.json', 'start');
    const joinC = json<{ alreadyJoined: boolean; sponsor: string }>(
      await run(0, '-c', 'B.json', '--json', 'join', id['C']!, '--expect-thumbprint', keystoreThumbprint(path.join(dir, 'C.json'))),
    );
    t.false(joinC.alreadyJoined);
    t.is(joinC.sponsor, id['B']!);
    await run(0, '-c', 'A.json', 'rskeymgmt', '-j', '-m', 'RS-D', '-n', 'D', '--expect-thumbprint', keystoreThumbprint(path.join(dir, 'D.json')));
    await run(0, '-c', 'A.json', '--json', 'join', id['D']!, '--expect-thumbprint', keystoreThumbprint(path.join(dir, 'D.json'))); // already joined: nothing to do
    await run(0, '-c', 'C.json', '--json', 'start');
    await run(0, '-c', 'D.json', 'start');
    await run(0, '-c', 'A.json', 'list');
    await run(0, '-c', 'A.json', 'rskeymgmt', '-l');

    // One removal: D. Its next start is refused.
    const removed = json<{ recorded: string[] }>(await run(0, '-c', 'A.json', '--json', 'remove', id['D']!));
    t.deepEqual(removed.recorded, ['InstanceRemoved']);
    const refused = json<{ state: string; reason?: { _tag: string } }>(await run(1, '-c', 'D.json', '--json', 'start'));
    t.is(refused.reason?._tag, 'InstanceRemoved');
    await run(1, '-c', 'D.json', 'status');
    await run(5, '-c', 'A.json', 'join', id['D']!, '--expect-thumbprint', keystoreThumbprint(path.join(dir, 'D.json'))); // a removed instance cannot be joined

    // One identity change: C. Its private key under the old identity is saved first, to scan for it afterwards.
    const before = cfgOf('C');
    const oldKey = rightOf(
      await fileKeystore(path.resolve(dir, before.keystore)).load({ installationId: before.installationId, serviceIdentity: before.serviceIdentity })(),
    );
    const oldJwk = privateJwkOf(oldKey.privateKey) as Record<string, string>;
    const changed = json<{ previousIdentity: string; serviceIdentity: string; previousThumbprint: string; thumbprint: string; activation: { state: string } }>(
      await run(0, '-c', 'C.json', '--json', 'change-identity', 'svc-reports-new'),
    );
    t.is(changed.previousIdentity, before.serviceIdentity);
    t.is(changed.serviceIdentity, 'svc-reports-new');
    t.is(changed.previousThumbprint, oldKey.thumbprint);
    t.not(changed.thumbprint, oldKey.thumbprint);
    t.is(changed.activation.state, 'activated');
    t.is(cfgOf('C').serviceIdentity, 'svc-reports-new', 'the config follows the ledger');
    await run(0, '-c', 'C.json', 'start');
    await run(0, '-c', 'C.json', 'change-identity', 'svc-reports-new'); // already done

    // Every read command, text and --json.
    for (const n of names) {
      await run(n === 'D' ? 1 : 0, '-c', `${n}.json`, 'status');
      await run(n === 'D' ? 1 : 0, '-c', `${n}.json`, '--json', 'status');
    }
    await run(0, '-c', 'B.json', 'list');
    const list = json<Array<{ installationId: string; membership: string; heldKeyVersion: number | null; thumbprint: string; keyThumbprint: string }>>(
      await run(0, '-c', 'B.json', '--json', 'list'),
    );
    t.deepEqual(
      list.map((r) => [r.installationId, r.membership, r.heldKeyVersion]),
      [
        [id['A'], 'joined', 1],
        [id['B'], 'joined', 1],
        [id['C'], 'joined', 1],
        [id['D'], 'removed', null],
      ],
    );
    t.is(list.find((r) => r.installationId === id['C'])?.keyThumbprint, changed.thumbprint);
    await run(0, '-c', 'B.json', 'rskeymgmt', '-l');
    await run(0, '-c', 'A.json', 'verify');
    const verified = json<{ problems: unknown[]; events: number }>(await run(0, '-c', 'A.json', '--json', 'verify'));
    t.deepEqual(verified.problems, []);
    await run(0, '-c', 'C.json', 'config', 'check');
    await run(0, '-c', 'C.json', '--json', 'config', 'check');

    // ── The secrets, recovered from the keystores and the ledger ─────────
    const secrets: Array<{ what: string; bytes: Buffer }> = [];
    const jwks: Record<string, Record<string, string>> = {};
    for (const n of names) {
      const cfg = cfgOf(n);
      const kp = rightOf(
        await fileKeystore(path.resolve(dir, cfg.keystore)).load({ installationId: cfg.installationId, serviceIdentity: cfg.serviceIdentity })(),
      );
      jwks[n] = privateJwkOf(kp.privateKey) as Record<string, string>;
    }
    jwks['C (before the identity change)'] = oldJwk;
    t.not(jwks['C']!['d'], oldJwk['d'], 'the identity change issued a new private key');
    for (const [who, jwk] of Object.entries(jwks))
      for (const m of PRIVATE_MEMBERS) {
        const bytes = Buffer.from(jwk[m]!, 'base64url');
        t.true(bytes.length >= 100, `${who}'s ${m} is a real key member`);
        secrets.push({ what: `${who}'s private ${m}`, bytes });
      }

    const store = openTestStore(ledgerFile);
    const events = await eventsOf(store, deploymentStream('default' as DeploymentId));
    await store.close();
    const created = events.find((e) => e.event.type === 'SymmetricKeyCreated')?.event;
    if (created?.type !== 'SymmetricKeyCreated') return t.fail('no SymmetricKeyCreated');
    // Each instance's newest copy, unwrapped with its own key; and C's copy under its old key, with the old key.
    const copies = events.flatMap((e) => (e.event.type === 'SymmetricKeyWrapped' || e.event.type === 'SymmetricKeyCreated' ? [e.event.data.copy] : []));
    t.is(copies.length, 5, 'A created; B, C, D joined; C re-wrapped for its new key');
    const newest = (n: string, thumbprint?: string) =>
      [...copies].reverse().find((c) => c.installationId === id[n] && (thumbprint === undefined || c.recipientThumbprint === thumbprint));
    const recovered = [
      { who: 'A', jwe: newest('A')?.jwe, jwk: jwks['A']! },
      { who: 'B', jwe: newest('B')?.jwe, jwk: jwks['B']! },
      { who: 'C', jwe: newest('C', changed.thumbprint)?.jwe, jwk: jwks['C']! },
      { who: 'C (old key)', jwe: newest('C', oldKey.thumbprint)?.jwe, jwk: oldJwk },
      { who: 'D (removed)', jwe: newest('D')?.jwe, jwk: jwks['D']! },
    ].map(({ who, jwe, jwk }) => {
      if (jwe === undefined) throw new Error(`no wrapped copy for ${who}`);
      return { who, key: unwrapWithNodeCrypto(jwe, jwk) };
    });
    const symmetric = recovered[0]!.key;
    t.is(symmetric.length, 32);
    for (const r of recovered) t.true(r.key.equals(symmetric), `${r.who}'s copy holds the same key`);
    t.is(
      createHmac('sha256', symmetric).update('keyledger/key-check/v1').digest('base64url'),
      created.data.keyCheck,
      'the key recovered is the deployment key',
    );
    secrets.push({ what: 'the symmetric key', bytes: symmetric });

    // ── Everything an attacker or a log shipper could read ───────────────
    captureWal('the scenario');
    const files = filesUnder(dir);
    for (const must of [ledgerFile, projectionsFile, path.join(stateDir, 'keyledger.log')]) t.true(files.includes(must), `${must} exists`);
    t.true(walSnapshots.size > 0, 'the ledger -wal was captured at least once');
    t.true(
      [...walSnapshots.values()].some((s) => s.where.startsWith('ledger.db-wal')),
      'the ledger -wal was captured',
    );
    const haystacks = [
      ...files.map((f) => ({ where: path.relative(dir, f), text: fs.readFileSync(f).toString('latin1') })),
      ...[...walSnapshots.values()].map((s) => ({ where: s.where, text: s.bytes.toString('latin1') })),
      ...outputs.map((o, i) => ({ where: `output #${i} (keyledger ${o.what})`, text: Buffer.from(o.r.stdout + o.r.stderr).toString('latin1') })),
    ];
    const log = fs.readFileSync(path.join(stateDir, 'keyledger.log'), 'utf8');
    for (const cmd of ['"command":"join"', '"command":"remove"', '"command":"change-identity"']) t.true(log.includes(cmd), `the log records ${cmd}`);

    let scanned = 0;
    const found: string[] = [];
    for (const s of secrets) {
      const raw = s.bytes.toString('latin1');
      const encoded = encodings(s.bytes);
      for (const h of haystacks) {
        scanned++;
        if (h.text.includes(raw)) found.push(`${s.what} (raw) in ${h.where}`);
        for (const enc of encoded) if (h.text.includes(enc)) found.push(`${s.what} (encoded) in ${h.where}`);
      }
    }
    t.deepEqual(found, [], 'no key material anywhere');
    t.is(scanned, secrets.length * haystacks.length);
    t.log(`${secrets.length} secrets × ${haystacks.length} places (${files.length} files, ${walSnapshots.size} -wal captures, ${outputs.length} outputs)`);
  } finally {
    for (const d of held) d.close();
  }
});

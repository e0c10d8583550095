/**
 * The remedies that name `keyledger delete-content` (issue 13 items 3 and 5; docs/adr/0015-content-deletion.md),
 * followed literally: where no backup exists, the printed last resort — its typed steps from --json, each checked to be
 * printed word for word in the text output — run on the instance it names, until that instance is activated on a new
 * key with an empty secret store; then the remedies the other members are shown after a deletion (initialize afresh,
 * be joined, confirm a new genesis), and the one an interrupted deletion shows (finish it).
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import { signerOf } from '../../src/commands/signing';
import type { KeyVersion } from '../../src/domain/ids';
import { fileKeystore } from '../../src/infra/file-keystore';
import { joseCrypto } from '../../src/infra/jose-crypto';
import { appendToDeployment } from '../support/backups';
import { CLI, runNode } from '../support/cli';
import { cliWith } from '../support/cli-inproc';
import { rightOf, tempDir } from '../support/fixtures';
import { activatedDeployment, keystoreThumbprint, newNode, type TestNode } from '../support/nodes';

interface Steps {
  steps: Array<{ on: 'this-instance' | 'a-member' | 'the-other-machine'; args: Array<string | { placeholder: string }>; command: string }>;
}
interface RemedyJson extends Steps {
  kind: 'Run' | 'NotYetPossible';
  text: string;
  lastResort?: Steps & { sentence: string; text: string };
}
interface StatusJson {
  state: string;
  reason?: { _tag: string };
  remedy?: RemedyJson;
  findings: Array<{ kind: string; remedy: RemedyJson }>;
}

const SHOWN: Record<string, string> = {
  '<new-installation-id>': '<new installation ID>',
  '<new-thumbprint>': '<its thumbprint>',
  '<genesis-thumbprint>': '<the genesis thumbprint its operator gives you>',
};

interface Cast {
  readonly self: TestNode;
  /** Where 'a-member' steps run. */
  readonly member?: TestNode;
  /** The genesis thumbprint, as the operator who created it would give it out of band. */
  readonly genesis?: () => string;
}

/** Runs each step on the node it names, every placeholder filled from what an earlier step printed (or the operator was told). */
const follow = async (t: ExecutionContext, steps: Steps['steps'], printed: string, cast: Cast): Promise<void> => {
  const printedFrom: Record<string, string> = {};
  for (const step of steps) {
    const shown = Object.entries(SHOWN).reduce((s, [k, v]) => s.replace(k, v), step.command);
    t.true(printed.includes(`\`${shown}\``), `printed: ${shown}\n${printed}`);
    const node = step.on === 'a-member' ? cast.member : cast.self;
    if (!node) throw new Error(`no node for ${step.on}`);
    const args = step.args.map((a) => {
      if (typeof a === 'string') return a;
      if (a.placeholder === 'genesis-thumbprint' && cast.genesis) return cast.genesis();
      const v = printedFrom[a.placeholder];
      if (v === undefined) throw new Error(`${a.placeholder} used before the step that prints it`);
      return v;
    });
    const r = await node.run('--json', ...args);
    t.true(r.code === 0 || r.code === 1, `keyledger ${args.join(' ')} → ${r.code}: ${r.stderr}`);
    if (args.includes('--new-installation-id')) {
      const o = r.json<{ installationId: string; thumbprint: string }>();
      printedFrom['new-installation-id'] = o.installationId;
      printedFrom['new-thumbprint'] = o.thumbprint;
    }
  }
};

/** The last resort a refusal prints, followed literally. */
const followLastResort = async (t: ExecutionContext, remedy: RemedyJson | undefined, printed: string, cast: Cast): Promise<void> => {
  t.is(remedy?.kind, 'Run');
  t.truthy(remedy?.lastResort, `a last resort is printed: ${remedy?.text}`);
  // The backup restore comes first; the deletion only after it.
  t.true(printed.indexOf('keyledger restore -f') < printed.indexOf('keyledger delete-content --confirm default'), printed);
  await follow(t, remedy!.lastResort!.steps, printed, cast);
};

/** Status, then its remedy, until activated. */
const walkStatus = async (t: ExecutionContext, cast: Cast, rounds = 4): Promise<void> => {
  for (let i = 0; i < rounds; i++) {
    const r = await cast.self.run('--json', 'status');
    const s = r.json<StatusJson>();
    if (s.state === 'activated') return;
    t.is(s.remedy?.kind, 'Run', JSON.stringify(s.remedy));
    await follow(t, s.remedy!.steps, (await cast.self.run('status')).stdout, cast);
  }
  const last = (await cast.self.run('--json', 'status')).json<StatusJson>();
  t.is(last.state, 'activated', JSON.stringify(last));
};

const SECRETS = ['reportserver/datasource/sales', 'delivery/smtp'];
const putSecrets = async (n: TestNode): Promise<void> => {
  for (const name of SECRETS) if ((await cliWith({ stdin: `value of ${name}` }, '-c', n.file, 'secret', 'put', name)).code !== 0) throw new Error(name);
};

/** Activated on a new key version, with an empty secret store: the secrets stored before the loss are gone for good. */
const freshAndEmpty = async (t: ExecutionContext, n: TestNode): Promise<void> => {
  const s = (await n.run('--json', 'status')).json<{ state: string; keyVersion: number }>();
  t.is(s.state, 'activated');
  t.true(s.keyVersion >= 2, `a new key version (${s.keyVersion})`);
  t.deepEqual((await n.run('--json', 'secret', 'list')).json(), []);
  for (const name of SECRETS) t.is((await cliWith({}, '-c', n.file, 'secret', 'get', name, '--reveal')).code, 5, `${name}: no such secret`);
  t.is((await cliWith({ stdin: 'a new value' }, '-c', n.file, 'secret', 'put', 'delivery/smtp')).code, 0, 'secrets can be stored again');
  const v = await n.run('verify', '--signatures');
  t.true(v.code === 0 || /signer-not-certified|not a member certified/.test(v.stdout), v.stdout);
};

test('last resort: the keystore of the only member is lost and no backup exists → new installation, old one removed, content deleted, init', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('kl-dwalk');
  const [only] = await activatedDeployment(dir, ['S']);
  await putSecrets(only!);
  fs.rmSync(only!.keystore);
  const start = await only!.run('--json', 'start');
  t.is(start.code, 1);
  const o = start.json<{ reason: { _tag: string }; remedy: RemedyJson }>();
  t.is(o.reason._tag, 'KeystoreUnavailable');
  t.deepEqual(
    o.remedy.lastResort?.steps.map((s) => s.command),
    ['keyledger init --new-installation-id', `keyledger remove ${only!.id} --force`, 'keyledger delete-content --confirm default', 'keyledger init'],
  );
  await followLastResort(t, o.remedy, (await only!.run('start')).stdout, { self: only! });
  await freshAndEmpty(t, only!);
});

test('last resort: the last member was removed, a new instance has no backup to restore → content deleted, init', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('kl-dwalk');
  const [a] = await activatedDeployment(dir, ['A']);
  await putSecrets(a!);
  t.is((await a!.run('remove', '--force', a!.id)).code, 0);
  const c = await newNode(dir, 'C');
  const init = await c.run('--json', 'init');
  t.is(init.code, 1);
  const o = init.json<{ reason: { _tag: string }; remedy: RemedyJson }>();
  t.is(o.reason._tag, 'NoMemberHoldsKey');
  await followLastResort(t, o.remedy, (await c.run('status')).stdout, { self: c });
  await freshAndEmpty(t, c);
});

test('last resort: the only member was removed (forced) and no backup exists → registered again, content deleted, init', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('kl-dwalk');
  const [a] = await activatedDeployment(dir, ['A']);
  await putSecrets(a!);
  t.is((await a!.run('remove', '--force', a!.id)).code, 0);
  const s = (await a!.run('--json', 'status')).json<StatusJson>();
  t.is(s.state, 'removed');
  t.deepEqual(
    s.remedy?.lastResort?.steps.map((x) => x.command),
    ['keyledger init --rejoin', 'keyledger delete-content --confirm default', 'keyledger init'],
  );
  await followLastResort(t, s.remedy, (await a!.run('status')).stdout, { self: a! });
  await freshAndEmpty(t, a!);
});

test('last resort: the only member’s copy cannot be unwrapped (rsReportServerDisabled) → content deleted by it, init', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('kl-dwalk');
  const [a] = await activatedDeployment(dir, ['A']);
  await putSecrets(a!);
  // Its copy replaced by one it cannot unwrap (wrapped for another key), signed by itself: nobody else holds the key.
  const crypto = joseCrypto();
  const identity = (JSON.parse(fs.readFileSync(a!.file, 'utf8')) as { serviceIdentity: string }).serviceIdentity;
  const held = rightOf(await fileKeystore(a!.keystore).load({ installationId: a!.id, serviceIdentity: identity })());
  const other = rightOf(await crypto.generateKeyPair(2048)());
  const jwe = rightOf(await crypto.wrap(crypto.createSymmetricKey(), other.publicKey)());
  await appendToDeployment(
    dir,
    [
      {
        type: 'SymmetricKeyWrapped',
        data: {
          deploymentId: 'default' as never,
          keyVersion: 1 as KeyVersion,
          copy: { installationId: a!.id, recipientThumbprint: held.thumbprint, jwe },
          wrappedBy: a!.id,
          wrappedByThumbprint: held.thumbprint,
          recipientSigningThumbprint: held.signing!.thumbprint,
        },
      },
    ],
    signerOf(crypto, held),
  );
  const start = await a!.run('--json', 'start');
  t.is(start.code, 1);
  const o = start.json<{ reason: { _tag: string }; remedy: RemedyJson }>();
  t.is(o.reason._tag, 'UnwrapFailed');
  t.deepEqual(
    o.remedy.lastResort?.steps.map((s) => s.command),
    ['keyledger delete-content --confirm default', 'keyledger init'],
  );
  await followLastResort(t, o.remedy, (await a!.run('start')).stdout, { self: a! });
  await freshAndEmpty(t, a!);
});

test('after a deletion, the other member follows its remedies: init creates the new key there (its own new genesis), the deleter re-joins it', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('kl-dwalk');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  await putSecrets(a!);
  t.is((await a!.run('delete-content', '--confirm', 'default')).code, 0);
  // B (not the genesis) initializes afresh first: it becomes the new genesis, and re-pins itself as such.
  const s = (await b!.run('--json', 'status')).json<StatusJson>();
  t.like(s, { state: 'disabled', reason: { _tag: 'ContentDeleted' } });
  await walkStatus(t, { self: b! });
  await freshAndEmpty(t, b!);
  // A, the old genesis: waiting to be joined, joined by B, then asked to confirm B as the new genesis — out of band — and started.
  await walkStatus(t, { self: a!, member: b!, genesis: () => keystoreThumbprint(b!.file) });
  t.is((await cliWith({}, '-c', a!.file, 'secret', 'get', 'delivery/smtp', '--reveal')).stdout, 'a new value');
});

test('an interrupted deletion is a finding on every member; following it finishes the deletion and initializes afresh', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('kl-dwalk');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  await putSecrets(a!);
  const killed = await runNode(CLI, ['-c', a!.file, 'delete-content', '--confirm', 'default'], {
    cwd: dir,
    env: { KEYLEDGER_KILL_AT: 'delete-content:after-append:SecretsDestroyed' },
    timeoutMs: 60_000,
  });
  t.is(killed.signal, 'SIGKILL', killed.stderr);
  const s = (await b!.run('--json', 'status')).json<StatusJson>();
  t.is(s.state, 'activated', 'the key stays usable until the deletion completes');
  const f = s.findings.find((x) => x.kind === 'ContentDeletionUnfinished');
  t.truthy(f, JSON.stringify(s.findings));
  t.regex(
    (await b!.run('list')).stdout,
    /warning: a deletion of the encrypted content was started by installation .* and not finished: .*keyledger delete-content --confirm default/,
  );
  // Anything new under the key being destroyed is refused meanwhile.
  t.is((await cliWith({ stdin: 'late' }, '-c', b!.file, 'secret', 'put', 'late')).code, 5);
  await follow(t, f!.remedy.steps, (await b!.run('status')).stdout, { self: b!, member: a! });
  await freshAndEmpty(t, a!);
  await walkStatus(t, { self: b!, member: a! });
  t.false((await b!.run('list')).stdout.includes('warning:'), 'the warning is gone');
});

/**
 * Mismatch detection, case by case: the refusal recorded by the start check,
 * the finding the projection names (with evidence and event positions), and
 * `status` answering RSReportServerNotActivated with that reason and finding.
 */
import { signerOf } from '../src/commands/signing';
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sealEvents } from '../src/domain/envelope';
import { sha256Hex } from '../src/infra/sha256';
import type { RefusalReason } from '../src/domain/events';
import { type DeploymentId, deploymentStream, instanceStream, type KeyVersion } from '../src/domain/ids';
import { fileKeystore } from '../src/infra/file-keystore';
import { joseCrypto } from '../src/infra/jose-crypto';
import { cli } from './support/cli-inproc';
import { aContext, openTestStore, rightOf, tempDir } from './support/fixtures';
import { eventsOf } from './support/ledger-reader';
import { activatedDeployment, instanceEvents, ledgerFile, type TestNode } from './support/nodes';

interface StatusJson {
  state: string;
  error?: string;
  reason?: RefusalReason;
  message?: string;
  findings: Array<{ kind: string; evidence: Record<string, unknown>; events: Array<{ stream: string; revision: string; position: string }> }>;
}

const thumbprintIn = (file: string): string => (JSON.parse(fs.readFileSync(file, 'utf8')) as { thumbprint: string }).thumbprint;

/** start is refused with `reason`; the refusal is the last event; status names the finding with its evidence. */
const expectMismatch = async (
  t: ExecutionContext,
  n: TestNode,
  reason: RefusalReason,
  finding: { kind: string; evidence: Record<string, unknown> },
  statusState = 'disabled',
): Promise<void> => {
  const start = await n.run('start');
  t.is(start.code, 1, start.stdout + start.stderr);
  t.regex(start.stdout, /^RSReportServerNotActivated: /m);
  const events = await instanceEvents(n.dir, n.id);
  const last = events.at(-1)!;
  t.is(last.event.type, 'InstanceActivationRefused');
  if (last.event.type === 'InstanceActivationRefused') t.deepEqual(last.event.data.reason, reason, 'the recorded reason');

  const status = await n.run('--json', 'status');
  t.is(status.code, 1);
  const s = status.json<StatusJson>();
  t.is(s.state, statusState);
  t.is(s.error, 'RSReportServerNotActivated');
  const f = s.findings.find((x) => x.kind === finding.kind);
  if (!f) return t.fail(`no ${finding.kind} finding in ${JSON.stringify(s.findings)}`);
  t.deepEqual(f.evidence, finding.evidence);
  t.true(
    f.events.some(
      (e) => e.stream === instanceStream(n.id) && e.revision === last.revision.toString() && e.position === `${last.position.commit}/${last.position.prepare}`,
    ),
    'the refusal event is cited with its position',
  );
  t.true(s.message?.includes(`Finding ${finding.kind}:`), 'RSReportServerNotActivated carries the finding');
  const text = await n.run('status');
  t.regex(text.stdout, new RegExp(`finding\\s+${finding.kind}: `));
};

test('the same installation ID presented with a different public key (rebuilt machine): ForeignPublicKey', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-mm');
  const [, b] = await activatedDeployment(dir, ['A', 'B']);
  const recorded = thumbprintIn(b!.keystore);
  // Rebuilt machine: the same config, a fresh keystore with a new key pair.
  fs.rmSync(path.dirname(b!.keystore), { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(b!.file, 'utf8')) as { serviceIdentity: string };
  const kp = rightOf(await joseCrypto().generateKeyPair(2048)());
  rightOf(await fileKeystore(b!.keystore).create({ installationId: b!.id, serviceIdentity: cfg.serviceIdentity }, kp)());
  await expectMismatch(
    t,
    b!,
    { _tag: 'PublicKeyMismatch', heldThumbprint: kp.thumbprint, storedThumbprint: recorded as never, storedIn: 'instance' },
    { kind: 'ForeignPublicKey', evidence: { installationId: b!.id, presentedThumbprint: kp.thumbprint, storedThumbprint: recorded, storedIn: 'instance' } },
  );
});

test('a wrapped copy for a key the instance no longer holds (lost keystore): CopyForKeyNoLongerHeld', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-mm');
  const [, b] = await activatedDeployment(dir, ['A', 'B']);
  const held = thumbprintIn(b!.keystore);
  fs.rmSync(b!.keystore);
  await expectMismatch(
    t,
    b!,
    { _tag: 'KeystoreUnavailable', keystorePath: b!.keystore, problem: 'missing', detail: 'no keystore file' },
    { kind: 'CopyForKeyNoLongerHeld', evidence: { installationId: b!.id, keyVersion: 1, copyThumbprint: held, heldThumbprint: 'none (keystore missing)' } },
  );
});

test("a copy older than the deployment's current key version: StaleCopy", async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-mm');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  // Another member re-created the key (version 2) and wrapped it only for itself.
  const crypto = joseCrypto();
  const store = openTestStore(ledgerFile(dir));
  const stream = deploymentStream('default' as DeploymentId);
  const events = await eventsOf(store, stream);
  const lastEvent = events.at(-1)!;
  const aKey = rightOf(
    await fileKeystore(a!.keystore).load({
      installationId: a!.id,
      serviceIdentity: (JSON.parse(fs.readFileSync(a!.file, 'utf8')) as { serviceIdentity: string }).serviceIdentity,
    })(),
  );
  const v2 = crypto.createSymmetricKey();
  const jwe = rightOf(await crypto.wrap(v2, aKey.publicKey)());
  const sealed = rightOf(
    sealEvents(
      stream,
      { revision: lastEvent.revision, hash: lastEvent.metadata.hash },
      [
        {
          type: 'SymmetricKeyCreated',
          data: {
            deploymentId: 'default' as DeploymentId,
            keyVersion: 2 as KeyVersion,
            algorithm: 'A256GCM',
            keyCheck: crypto.keyCheck(v2),
            createdBy: a!.id,
            copy: { installationId: a!.id, recipientThumbprint: aKey.thumbprint, jwe },
          },
        },
      ],
      aContext('recreate'),
      sha256Hex,
      signerOf(crypto, aKey), // signed by the member that re-created it, as a re-create will be
    ),
  );
  rightOf(await store.append(stream, sealed, lastEvent.revision)());
  await store.close();
  await expectMismatch(
    t,
    b!,
    { _tag: 'StaleWrappedCopy', heldVersion: 1 as KeyVersion, currentVersion: 2 as KeyVersion },
    { kind: 'StaleCopy', evidence: { installationId: b!.id, heldVersion: 1, currentVersion: 2 } },
  );
});

test('a removed instance starting: RemovedInstanceStarting', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-mm');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const tp = thumbprintIn(b!.keystore);
  t.is((await a!.run('remove', b!.id)).code, 0);
  await expectMismatch(
    t,
    b!,
    { _tag: 'InstanceRemoved', installationId: b!.id, revokedThumbprint: tp as never },
    { kind: 'RemovedInstanceStarting', evidence: { installationId: b!.id, revokedThumbprint: tp } },
    'removed',
  );
});

test("one installation ID claimed by two machines (a copied config): InstallationClaimedByTwoMachines, on the holder's status and the clone's", async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-mm');
  const [, b] = await activatedDeployment(dir, ['A', 'B']);
  const cloneFile = path.join(dir, 'clone.json');
  fs.writeFileSync(cloneFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(b!.file, 'utf8')), machineName: 'RS-CLONE' }));
  const cloned: TestNode = { ...b!, file: cloneFile, run: (...args: string[]) => cli('-c', cloneFile, ...args) };
  const start = await cloned.run('start');
  t.is(start.code, 1);
  const last = (await instanceEvents(dir, b!.id)).at(-1)!;
  t.deepEqual(last.event.type === 'InstanceActivationRefused' ? last.event.data.reason : undefined, {
    _tag: 'ConfigurationChanged',
    field: 'machineName',
    recorded: 'RS-B',
    presented: 'RS-CLONE',
  });
  // The refusal is evidence about the clone: the registered holder stays activated, and both sides see the finding.
  for (const n of [cloned, b!]) {
    const status = await n.run('--json', 'status');
    t.is(status.code, 0);
    const s = status.json<StatusJson>();
    t.is(s.state, 'activated');
    const f = s.findings.find((x) => x.kind === 'InstallationClaimedByTwoMachines');
    if (!f) return t.fail(JSON.stringify(s.findings));
    t.deepEqual(f.evidence['machines'], ['RS-B', 'RS-CLONE']);
    t.true(
      f.events.some((e) => e.stream === instanceStream(b!.id) && e.revision === last.revision.toString()),
      "the clone's refusal is cited",
    );
  }
  t.regex((await b!.run('status')).stdout, /finding\s+InstallationClaimedByTwoMachines: /);
  t.is((await b!.run('start')).code, 0, 'the original machine is unaffected');
});

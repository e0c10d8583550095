/**
 * A realistic ledger, written through the port with real sealing (the output is
 * a temp file, never committed): D deployments of N instances each; every
 * instance reads its config, issues a key pair, is registered, is refused once
 * while it waits (NoWrappedCopy), is joined (the first creates the key) and
 * activated, then restarts R times (an activation from another host each time,
 * so each is recorded). Every event but ConfigRead is signed by the member that
 * acts (ADR 0010), each with its own Ed25519 key registered with a proof of possession. An instance's own events are sealed and appended in one
 * batch, so generating is not dominated by one fsync per event.
 *
 *   node dist/bench/generate.js <file> <deployments> <instancesPerDeployment> <restarts>
 */
import { createHash, randomUUID } from 'node:crypto';
import * as E from 'fp-ts/Either';
import { type CommandContext, type EventSigner, GENESIS, sealEvents } from '../src/domain/envelope';
import type { Base64Url, LedgerEvent, OutcomeBasis } from '../src/domain/events';
import { proofOfPossessionText } from '../src/domain/signatures';
import {
  type DeploymentId,
  deploymentStream,
  type InstallationId,
  instanceStream,
  type KeyVersion,
  type NonEmptyString,
  type Thumbprint,
} from '../src/domain/ids';
import { sha256Hex } from '../src/infra/sha256';
import { signatures } from '../src/infra/signing';
import { openSqliteStore } from '../src/infra/sqlite-store';
import type { EventStore } from '../src/ports/event-store';

const b64u = (label: string, bytes = 32): string => createHash('sha256').update(label).digest().subarray(0, bytes).toString('base64url');
const thumbprintOf = (label: string): Thumbprint => b64u(`tp:${label}`) as Thumbprint;
const publicKey = (label: string) => ({ kty: 'RSA' as const, n: b64u(`n:${label}`), e: 'AQAB', alg: 'RSA-OAEP-256' as const, use: 'enc' as const });
const jwe = (label: string): string =>
  [
    Buffer.from(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM' })).toString('base64url'),
    b64u(`k:${label}`),
    b64u(`iv:${label}`, 12),
    b64u(`c:${label}`),
    b64u(`t:${label}`, 16),
  ].join('.');

const ctx = (): CommandContext => {
  const id = randomUUID();
  return { actor: 'bench@generator', command: 'generate', correlationId: id, causationId: id, now: () => new Date(), newId: randomUUID };
};

interface Head {
  revision: bigint | 'no_stream';
  hash: string;
}

const appendSealed = async (
  store: EventStore,
  heads: Map<string, Head>,
  stream: string,
  events: ReadonlyArray<LedgerEvent>,
  signer?: EventSigner,
): Promise<void> => {
  const head = heads.get(stream) ?? { revision: 'no_stream' as const, hash: GENESIS };
  const sealed = sealEvents(stream, head, events, ctx(), sha256Hex, signer);
  if (E.isLeft(sealed)) throw new Error(`generator: ${sealed.left.problem}`);
  const r = await store.append(stream, sealed.right, head.revision)();
  if (E.isLeft(r)) throw new Error(`generator: ${r.left._tag}`);
  heads.set(stream, { revision: r.right.nextExpectedRevision, hash: (sealed.right[sealed.right.length - 1]!.metadata as { hash: string }).hash });
};

export interface GeneratedLedger {
  readonly events: number;
  readonly instances: number;
}

export const generateLedger = async (file: string, deployments: number, perDeployment: number, restarts: number): Promise<GeneratedLedger> => {
  const opened = openSqliteStore(file);
  if (E.isLeft(opened)) throw new Error('generator: cannot open the ledger');
  const store = opened.right;
  const heads = new Map<string, Head>();
  let events = 0;
  const V1 = 1 as KeyVersion;
  try {
    for (let d = 0; d < deployments; d++) {
      const deploymentId = `bench-${d}` as DeploymentId;
      const dstream = deploymentStream(deploymentId);
      let creator: { id: InstallationId; signer: EventSigner } | undefined;
      for (let i = 0; i < perDeployment; i++) {
        const id = randomUUID() as InstallationId;
        const label = `${d}/${i}`;
        const tp = thumbprintOf(label);
        // Signed as members sign (ADR 0010): its own Ed25519 key, registered with a proof of possession.
        const key = signatures.generate();
        const signer: EventSigner = { installationId: id, thumbprint: key.thumbprint, sign: (text) => signatures.sign(key.handle, text) };
        const signing = {
          signingKey: key.publicKey,
          signingThumbprint: key.thumbprint,
          signingKeyProof: signatures.sign(key.handle, proofOfPossessionText(id, tp, key.thumbprint)) as Base64Url,
        };
        const machineName = `RS-${d}-${i}` as NonEmptyString;
        const basis = (revision: number, host: string): OutcomeBasis => ({
          deploymentRevision: revision as OutcomeBasis['deploymentRevision'],
          presentedThumbprint: tp,
          machineName,
          host,
          keystorePath: `/var/keyledger/${label}/instance.keystore.json`,
        });
        const copy = { installationId: id, recipientThumbprint: tp, jwe: jwe(label) as never };
        await appendSealed(store, heads, instanceStream(id), [
          {
            type: 'ConfigRead',
            data: {
              installationId: id,
              deploymentId,
              machineName,
              instanceName: 'MSSQLSERVER' as NonEmptyString,
              serviceIdentity: 'NT SERVICE\\ReportServer' as NonEmptyString,
              store: { kind: 'sqlite', location: file },
              keystorePath: `/var/keyledger/${label}/instance.keystore.json`,
            },
          },
        ]);
        await appendSealed(
          store,
          heads,
          instanceStream(id),
          [
            {
              type: 'KeyPairIssued',
              data: {
                installationId: id,
                publicKey: publicKey(label) as never,
                thumbprint: tp,
                algorithm: 'RSA-OAEP-256',
                keySize: 2048,
                serviceIdentity: 'NT SERVICE\\ReportServer' as NonEmptyString,
                ...signing,
              },
            },
          ],
          signer,
        );
        const stored: LedgerEvent = {
          type: 'PublicKeyStored',
          data: {
            deploymentId,
            installationId: id,
            machineName,
            instanceName: 'MSSQLSERVER' as NonEmptyString,
            thumbprint: tp,
            publicKey: publicKey(label) as never,
            ...signing,
          },
        };
        const keyEvent: LedgerEvent = creator
          ? {
              type: 'SymmetricKeyWrapped',
              data: {
                deploymentId,
                keyVersion: V1,
                copy,
                wrappedBy: creator.id,
                wrappedByThumbprint: thumbprintOf(`${d}/0`),
                recipientSigningThumbprint: key.thumbprint,
              },
            }
          : {
              type: 'SymmetricKeyCreated',
              data: { deploymentId, keyVersion: V1, algorithm: 'A256GCM', keyCheck: b64u(`kc:${d}`) as never, createdBy: id, copy },
            };
        await appendSealed(store, heads, dstream, creator ? [stored] : [stored, keyEvent], signer);
        const registeredAt = Number(heads.get(dstream)!.revision);
        const outcomes: LedgerEvent[] = creator
          ? [
              {
                type: 'InstanceActivationRefused',
                data: { installationId: id, deploymentId, reason: { _tag: 'NoWrappedCopy', keyVersion: V1 }, basis: basis(registeredAt, 'host-a') },
              },
            ]
          : [];
        if (creator) await appendSealed(store, heads, dstream, [keyEvent], creator.signer);
        const joinedAt = Number(heads.get(dstream)!.revision);
        outcomes.push({
          type: 'InstanceActivated',
          data: { installationId: id, deploymentId, keyVersion: V1, thumbprint: tp, basis: basis(joinedAt, 'host-a') },
        });
        for (let r = 0; r < restarts; r++)
          outcomes.push({
            type: 'InstanceActivated',
            data: { installationId: id, deploymentId, keyVersion: V1, thumbprint: tp, basis: basis(joinedAt, `host-${r % 2 === 0 ? 'b' : 'a'}`) },
          });
        await appendSealed(store, heads, instanceStream(id), outcomes, signer);
        events += 2 + outcomes.length + (creator ? 2 : 2);
        creator ??= { id, signer };
      }
    }
  } finally {
    await store.close();
  }
  return { events, instances: deployments * perDeployment };
};

if (require.main === module) {
  const [file, d = '10', n = '10', r = '2'] = process.argv.slice(2);
  if (!file) throw new Error('usage: generate <file> <deployments> <instancesPerDeployment> <restarts>');
  generateLedger(file, Number(d), Number(n), Number(r)).then(
    (g) => process.stdout.write(`${g.events} events, ${g.instances} instances in ${file}\n`),
    (e: unknown) => {
      process.stderr.write(`generate failed: ${String(e)}\n`);
      process.exitCode = 1;
    },
  );
}

/**
 * The trust walk (src/domain/trust.ts) over deployment streams built in memory:
 * registrations, the genesis, certifications and removals; and, property-based
 * (fast-check), that any change to a signed event's data after it was signed
 * leaves that event trusting nothing and reported as a finding.
 */
import test from 'ava';
import fc from 'fast-check';
import { type EventSigner, GENESIS, type StoredEvent, sealEvents } from '../../src/domain/envelope';
import type { LedgerEvent, PublicJwk } from '../../src/domain/events';
import type { Base64Url, CompactJwe } from '../../src/domain/events';
import type { DeploymentId, InstallationId, KeyVersion, Thumbprint } from '../../src/domain/ids';
import { proofOfPossessionText } from '../../src/domain/signatures';
import { copyDistrust, trustOf } from '../../src/domain/trust';
import { sha256Hex } from '../../src/infra/sha256';
import { signatures } from '../../src/infra/signing';
import { aContext, newInstallationId } from '../support/fixtures';

const D = 'default' as DeploymentId;
const STREAM = 'keyledger.deployment-default';
const crypto = { verify: signatures.verify, thumbprint: signatures.thumbprint };
const RSA: PublicJwk = { kty: 'RSA', n: 'AQAB' as never, e: 'AQAB' as never };
const JWE = `${Buffer.from('{"alg":"RSA-OAEP-256","enc":"A256GCM"}').toString('base64url')}.a.b.c.d` as CompactJwe;

interface Member {
  readonly id: InstallationId;
  readonly rsaThumbprint: Thumbprint;
  readonly key: ReturnType<typeof signatures.generate>;
  readonly signer: EventSigner;
}

const member = (n: number): Member => {
  const key = signatures.generate();
  const id = newInstallationId();
  return {
    id,
    rsaThumbprint: `rsa${String(n).padStart(40, '0')}` as Thumbprint,
    key,
    signer: { installationId: id, thumbprint: key.thumbprint, sign: (text) => signatures.sign(key.handle, text) },
  };
};

const stored = (m: Member): LedgerEvent => ({
  type: 'PublicKeyStored',
  data: {
    deploymentId: D,
    installationId: m.id,
    machineName: 'RS' as never,
    instanceName: 'I' as never,
    thumbprint: m.rsaThumbprint,
    publicKey: RSA,
    signingKey: m.key.publicKey,
    signingThumbprint: m.key.thumbprint,
    signingKeyProof: signatures.sign(m.key.handle, proofOfPossessionText(m.id, m.rsaThumbprint, m.key.thumbprint)) as Base64Url,
  },
});
const created = (m: Member): LedgerEvent => ({
  type: 'SymmetricKeyCreated',
  data: {
    deploymentId: D,
    keyVersion: 1 as KeyVersion,
    algorithm: 'A256GCM',
    keyCheck: 'check' as Base64Url,
    createdBy: m.id,
    copy: { installationId: m.id, recipientThumbprint: m.rsaThumbprint, jwe: JWE },
  },
});
const wrapped = (by: Member, to: Member): LedgerEvent => ({
  type: 'SymmetricKeyWrapped',
  data: {
    deploymentId: D,
    keyVersion: 1 as KeyVersion,
    copy: { installationId: to.id, recipientThumbprint: to.rsaThumbprint, jwe: JWE },
    wrappedBy: by.id,
    wrappedByThumbprint: by.rsaThumbprint,
    recipientSigningThumbprint: to.key.thumbprint,
  },
});
const removed = (m: Member): LedgerEvent => ({
  type: 'InstanceRemoved',
  data: {
    deploymentId: D,
    installationId: m.id,
    machineName: 'RS',
    instanceName: 'I',
    thumbprint: m.rsaThumbprint,
    revokedKeyVersion: 1 as KeyVersion,
    forced: false,
    lastMember: false,
  },
});

/** Events sealed one by one, each signed by its actor, as the handler does. */
const streamOf = (steps: ReadonlyArray<readonly [LedgerEvent, Member]>): StoredEvent[] => {
  const out: StoredEvent[] = [];
  let last: { revision: bigint | 'no_stream'; hash: string } = { revision: 'no_stream', hash: GENESIS };
  for (const [event, by] of steps) {
    const sealed = sealEvents(STREAM, last, [event], aContext('test'), sha256Hex, by.signer);
    if (sealed._tag === 'Left') throw new Error(sealed.left.problem);
    const d = sealed.right[0]!;
    const revision = last.revision === 'no_stream' ? 0n : last.revision + 1n;
    out.push({ stream: STREAM, revision, position: { commit: revision, prepare: revision }, event, metadata: d.metadata as never });
    last = { revision, hash: (d.metadata as { hash: string }).hash };
  }
  return out;
};

const [A, B, C] = [member(1), member(2), member(3)] as const;
const deployment = (): StoredEvent[] =>
  streamOf([
    [stored(A), A],
    [created(A), A],
    [stored(B), B],
    [wrapped(A, B), A],
    [stored(C), C],
    [wrapped(B, C), B],
  ]);

test('the creator of the first key is the genesis; members certified by signed wraps; no findings', (t) => {
  const trust = trustOf(deployment(), crypto);
  t.is(trust.genesis?.thumbprint, A.key.thumbprint);
  t.deepEqual(Object.keys(trust.members).sort(), [A.id, B.id, C.id].map((i) => i.toLowerCase()).sort());
  t.deepEqual(trust.findings, []);
  for (const m of [A, B, C])
    t.is(
      copyDistrust(trust, { installationId: m.id, signingThumbprint: m.key.thumbprint, pinnedGenesis: A.key.thumbprint }, 1 as KeyVersion, 'check'),
      undefined,
    );
});

test("removing the genesis leaves trust with the members it certified; a removed member's later wrap certifies no one", (t) => {
  const D2 = member(4);
  const trust = trustOf(
    streamOf([
      [stored(A), A],
      [created(A), A],
      [stored(B), B],
      [wrapped(A, B), A],
      [removed(A), B],
      [stored(C), C],
      [wrapped(B, C), B],
      [stored(D2), D2],
      [wrapped(A, D2), A], // A is no longer a member
    ]),
    crypto,
  );
  t.truthy(trust.members[C.id.toLowerCase()]);
  t.falsy(trust.members[D2.id.toLowerCase()]);
  t.like(trust.copies[D2.id.toLowerCase()], { trusted: false, problem: 'signer-not-registered' }); // removed: its key is no longer registered
  t.like(copyDistrust(trust, { installationId: D2.id, signingThumbprint: D2.key.thumbprint, pinnedGenesis: undefined }, 1 as KeyVersion, 'check'), {
    _tag: 'UntrustedKeyEvent',
    problem: 'copy-not-certified',
  });
});

test('a wrap naming another signing key than the registered one certifies no one; a pinned genesis that differs is refused', (t) => {
  const evil = member(9);
  const forged = { ...wrapped(A, B), data: { ...(wrapped(A, B).data as object), recipientSigningThumbprint: evil.key.thumbprint } } as LedgerEvent;
  const trust = trustOf(
    streamOf([
      [stored(A), A],
      [created(A), A],
      [stored(B), B],
      [forged, A],
    ]),
    crypto,
  );
  t.falsy(trust.members[B.id.toLowerCase()]);
  t.like(copyDistrust(trust, { installationId: A.id, signingThumbprint: A.key.thumbprint, pinnedGenesis: evil.key.thumbprint }, 1 as KeyVersion, 'check'), {
    _tag: 'GenesisNotPinned',
  });
});

test('property: any change to a signed event after signing makes that event trust nothing and is reported at its revision', (t) => {
  const base = deployment();
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.integer({ min: 0, max: base.length - 1 }), fc.string({ minLength: 1, maxLength: 8 }), (index, junk) => {
        const target = base[index]!;
        const data = target.event.data as Record<string, unknown>;
        // Change one field the signature covers: the deployment ID (every event has it) to another value.
        const changed = { ...target, event: { ...target.event, data: { ...data, deploymentId: `x${junk}` } } as LedgerEvent };
        const events = base.map((e, i) => (i === index ? changed : e));
        const trust = trustOf(events, crypto);
        return trust.findings.some((f) => f.revision === target.revision);
      }),
      { numRuns: 60 },
    ),
  );
});

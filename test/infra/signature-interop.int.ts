/**
 * Interoperability (issue 9): a verifier with `node:crypto` alone, and nothing but the description in
 * src/domain/signatures.ts, checks an event signature and a member certification read from the stored rows.
 * keyledger only produces the ledger here; canonical JSON, thumbprints and the Ed25519 checks below are
 * written from the description, not imported.
 *
 *   event signature = Ed25519 over UTF-8 of "keyledger-event-signature/v1\n" +
 *     canonical-json({ stream, revision: decimal string, type, data, metadata without hash and sig }),
 *     stored as metadata.sig = { alg: "Ed25519", by, key: RFC 7638 thumbprint, value: base64url }
 *   proof of possession = Ed25519 over "keyledger-signing-key/v1\n" +
 *     canonical-json({ installationId (lower case), signingThumbprint, thumbprint (of the RSA key) })
 *   thumbprint of an Ed25519 JWK = base64url(SHA-256('{"crv":"Ed25519","kty":"OKP","x":"…"}'))
 */
import test from 'ava';
import Database from 'better-sqlite3';
import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { tempDir } from '../support/fixtures';
import { activatedDeployment, ledgerFile } from '../support/nodes';

interface Row {
  readonly stream: string;
  readonly revision: number;
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly metadata: Record<string, unknown>;
}
interface Sig {
  readonly alg: string;
  readonly by: string;
  readonly key: string;
  readonly value: string;
}
interface Jwk {
  readonly kty: string;
  readonly crv: string;
  readonly x: string;
}

/** Canonical JSON as the description says (sorted member names, no white space, JSON.stringify's strings and numbers). */
const canonical = (v: unknown): string => {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  const names = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${names.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
};

const rowsOf = (file: string): Row[] => {
  const db = new Database(file, { readonly: true });
  try {
    const raw = db
      .prepare('SELECT stream_name AS stream, stream_revision AS revision, event_type AS type, data, metadata FROM events ORDER BY global_position')
      .all() as Array<{ stream: string; revision: number; type: string; data: string; metadata: string }>;
    return raw.map((r) => ({ ...r, data: JSON.parse(r.data), metadata: JSON.parse(r.metadata) }));
  } finally {
    db.close();
  }
};

const signingText = (r: Row): string => {
  const { hash: _hash, sig: _sig, ...metadata } = r.metadata;
  return `keyledger-event-signature/v1\n${canonical({ stream: r.stream, revision: String(r.revision), type: r.type, data: r.data, metadata })}`;
};

const proofText = (installationId: string, rsaThumbprint: string, signingThumbprint: string): string =>
  `keyledger-signing-key/v1\n${canonical({ installationId: installationId.toLowerCase(), signingThumbprint, thumbprint: rsaThumbprint })}`;

const thumbprint = (jwk: Jwk): string => createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${jwk.x}"}`, 'utf8').digest('base64url');

const ed25519 = (jwk: Jwk): KeyObject => createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });

const verifies = (jwk: Jwk, text: string, signature: string): boolean =>
  verify(null, Buffer.from(text, 'utf8'), ed25519(jwk), Buffer.from(signature, 'base64url'));

/** One byte of a string changed (a character replaced by its neighbour in ASCII). */
const oneByteChanged = (s: string, at: number): string => s.slice(0, at) + String.fromCharCode(s.charCodeAt(at) ^ 1) + s.slice(at + 1);

/** The signing key an installation registered in the deployment (PublicKeyStored), with its proof of possession checked. */
const registeredKey = (rows: ReadonlyArray<Row>, installationId: string): Jwk => {
  const r = rows.find((x) => x.type === 'PublicKeyStored' && x.data['installationId'] === installationId);
  if (!r) throw new Error(`no PublicKeyStored for ${installationId}`);
  const jwk = r.data['signingKey'] as Jwk;
  if (thumbprint(jwk) !== r.data['signingThumbprint']) throw new Error('the registered signing key does not hash to its thumbprint');
  const proof = proofText(installationId, r.data['thumbprint'] as string, r.data['signingThumbprint'] as string);
  if (!verifies(jwk, proof, r.data['signingKeyProof'] as string)) throw new Error('the proof of possession does not verify');
  return jwk;
};

const setup = async () => {
  const dir = tempDir('kl-interop');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  return { a: a!, b: b!, rows: rowsOf(ledgerFile(dir)) };
};

test('an event signature verifies with node:crypto alone, from the documented text and the registered JWK; one byte changed and it does not', async (t) => {
  t.timeout(60_000);
  const { b, rows } = await setup();
  const activated = rows.find((r) => r.type === 'InstanceActivated' && r.data['installationId'] === b.id)!;
  const sig = activated.metadata['sig'] as Sig;
  t.is(sig.alg, 'Ed25519');
  t.is(sig.by, b.id);
  t.regex(sig.value, /^[A-Za-z0-9_-]{86}$/, '64 bytes, base64url without padding');
  const jwk = registeredKey(rows, b.id);
  t.deepEqual(Object.keys(jwk).sort(), ['crv', 'kty', 'x']);
  t.is(sig.key, thumbprint(jwk), 'the signature names the registered key by its RFC 7638 thumbprint');

  const text = signingText(activated);
  t.true(text.startsWith('keyledger-event-signature/v1\n{"data":{'));
  t.true(text.includes(`"revision":"${activated.revision}"`), 'the revision as a decimal string');
  t.true(text.includes(`"prevHash":"${activated.metadata['prevHash']}"`), 'the predecessor hash is covered');
  t.false(text.includes('"hash"') || text.includes('"sig"'), 'neither hash nor sig is covered');
  t.true(verifies(jwk, text, sig.value));

  // One byte anywhere — the data, the stream position, the predecessor hash, the signature — and it fails.
  for (const at of [text.indexOf('"data"') + 12, text.indexOf('"revision"') + 12, text.indexOf('"prevHash"') + 13, text.length - 3])
    t.false(verifies(jwk, oneByteChanged(text, at), sig.value), `byte ${at} changed`);
  const raw = Buffer.from(sig.value, 'base64url');
  raw[10]! ^= 0x01;
  t.false(verifies(jwk, text, raw.toString('base64url')), 'one bit of the signature changed');
  t.false(verifies(registeredKey(rows, rows.find((r) => r.type === 'SymmetricKeyCreated')!.data['createdBy'] as string), text, sig.value), 'another key');
});

test('a member certification verifies with node:crypto alone: the sponsor, registered with proof of possession, signed the wrap naming the newcomer', async (t) => {
  t.timeout(60_000);
  const { a, b, rows } = await setup();

  // The genesis: the creator of the first key, its SymmetricKeyCreated signed with the key it registered.
  const created = rows.find((r) => r.type === 'SymmetricKeyCreated')!;
  t.is(created.data['createdBy'], a.id);
  const aKey = registeredKey(rows, a.id);
  const createdSig = created.metadata['sig'] as Sig;
  t.like(createdSig, { alg: 'Ed25519', by: a.id, key: thumbprint(aKey) });
  t.true(verifies(aKey, signingText(created), createdSig.value));

  // The certification: A wrapped the key for B, naming B's signing key by its thumbprint, and signed it.
  const wrap = rows.find((r) => r.type === 'SymmetricKeyWrapped' && (r.data['copy'] as { installationId: string }).installationId === b.id)!;
  const bKey = registeredKey(rows, b.id);
  t.is(wrap.data['recipientSigningThumbprint'], thumbprint(bKey), "the wrap names the newcomer's registered signing key");
  t.is(wrap.data['wrappedBy'], a.id);
  const wrapSig = wrap.metadata['sig'] as Sig;
  t.like(wrapSig, { alg: 'Ed25519', by: a.id, key: thumbprint(aKey) });
  const text = signingText(wrap);
  t.true(verifies(aKey, text, wrapSig.value));

  // B's proof of possession binds its signing key to its installation and RSA key: not to another installation.
  const bRegistered = rows.find((r) => r.type === 'PublicKeyStored' && r.data['installationId'] === b.id)!;
  const bProof = proofText(b.id, bRegistered.data['thumbprint'] as string, bRegistered.data['signingThumbprint'] as string);
  t.true(verifies(bKey, bProof, bRegistered.data['signingKeyProof'] as string));
  t.false(verifies(bKey, proofText(a.id, bRegistered.data['thumbprint'] as string, thumbprint(bKey)), bRegistered.data['signingKeyProof'] as string));

  // One byte changed: the named thumbprint, or the proof's text — neither verifies.
  const named = text.indexOf('"recipientSigningThumbprint":"') + 32;
  t.false(verifies(aKey, oneByteChanged(text, named), wrapSig.value));
  t.false(verifies(bKey, oneByteChanged(bProof, bProof.length - 5), bRegistered.data['signingKeyProof'] as string));
  t.false(verifies(bKey, text, wrapSig.value), "the newcomer's key did not sign its own certification");
});

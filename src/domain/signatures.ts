/**
 * What a signature covers (docs/adr/0010-signed-key-events.md). Pure: the
 * Ed25519 signing and verification are injected (src/infra/signing.ts).
 *
 * An event's signature is an Ed25519 signature, by the acting member's signing
 * key, over the UTF-8 bytes of
 *   "keyledger-event-signature/v1\n" + canonicalJson({ stream, revision, type, data, metadata })
 * where revision is a decimal string and metadata is the event's metadata
 * without `hash` and `sig` — so it covers the content, the stream position and
 * the predecessor's hash (`metadata.prevHash`). It is stored in
 * `metadata.sig` = { alg: "Ed25519", by: <installation ID>, key: <signing-key thumbprint>, value: <base64url> },
 * and the event's hash (ADR 0002) then covers the signature too.
 *
 * A signing key's proof of possession is its signature over
 *   "keyledger-signing-key/v1\n" + canonicalJson({ installationId, signingThumbprint, thumbprint })
 * binding it to the installation and to the RSA key (by RFC 7638 thumbprint) registered with it.
 */
import * as t from 'io-ts';
import { canonicalJson } from './envelope';
export { EVENT_SIGNATURE_CONTEXT, type EventSigner, eventSigningText } from './envelope';
import type { SigningJwk } from './events';
import { InstallationId, Thumbprint } from './ids';

export const SIGNING_KEY_CONTEXT = 'keyledger-signing-key/v1\n';

export const EventSignature = t.exact(
  t.type({
    alg: t.literal('Ed25519'),
    by: InstallationId,
    key: Thumbprint,
    value: t.refinement(t.string, (s) => /^[A-Za-z0-9_-]{86}$/.test(s), 'Ed25519Signature'),
  }),
);
export type EventSignature = t.TypeOf<typeof EventSignature>;

/** The text a signing key's proof of possession covers. */
export const proofOfPossessionText = (installationId: string, thumbprint: string, signingThumbprint: string): string =>
  SIGNING_KEY_CONTEXT + canonicalJson({ installationId: installationId.toLowerCase(), signingThumbprint, thumbprint });

/** Ed25519 verification, injected: true only for a valid signature by that key over that text. */
export type Verify = (publicKey: SigningJwk, text: string, signature: string) => boolean;

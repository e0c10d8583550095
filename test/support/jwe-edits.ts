/** Editing a compact JWE as an attacker would (test support): one part changed, or one byte flipped. */
export const editPart = (jwe: string, part: number, f: (s: string) => string): string =>
  jwe
    .split('.')
    .map((p, i) => (i === part ? f(p) : p))
    .join('.');

/** The first byte of a base64url part, flipped. */
export const flip = (b64: string): string => {
  const bytes = Buffer.from(b64, 'base64url');
  bytes[0] = (bytes[0] ?? 0) ^ 1;
  return bytes.toString('base64url');
};

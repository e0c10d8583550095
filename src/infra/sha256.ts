/**
 * The digest the hash chain uses: SHA-256, lowercase hex. Injected into the
 * domain's envelope functions, which stay free of node:crypto.
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../domain/envelope';

export const sha256Hex: Digest = (text) => createHash('sha256').update(text).digest('hex');

/**
 * The digest the hash chain uses: SHA-256, lowercase hex. Injected into the
 * domain's envelope functions, which stay free of node:crypto.
 */
import { hash } from 'node:crypto';
import type { Digest } from '../domain/envelope';

/** One-shot `crypto.hash` (Node ≥ 20.12): no Hash object per event, a third cheaper on a catch-up's short texts. */
export const sha256Hex: Digest = (text) => hash('sha256', text, 'hex');

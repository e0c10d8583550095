/**
 * The Merkle tree of the ledger (RFC 9162 §2.1, the RFC 6962 tree): leaf hash = SHA-256(0x00 || leaf input),
 * node hash = SHA-256(0x01 || left || right), the empty tree's root = SHA-256 of nothing. SHA-256 is injected
 * (src/domain holds no crypto).
 *
 * Stored hashes follow golang.org/x/mod/sumdb/tlog (after Crosby and Wallach): every complete subtree's hash,
 * at a dense index (`storedHashIndex(level, n)`) in the order an append-only writer produces them — a leaf's
 * hash, then the hashes of the subtrees it completes. A tree of n leaves has about 2n of them; a root, an
 * inclusion proof or a consistency proof needs O(log n) of them, never a recomputation of the tree.
 *
 * Each algorithm comes in two halves, as in Go's package: the stored-hash indexes it needs (`…Indexes`), which
 * the caller reads from its storage, and the pure computation over what was read (`…From`). Sizes and indexes
 * are JavaScript numbers (exact up to 2^53 leaves); no bitwise operator touches them.
 */
import { concatBytes, equalBytes } from './bytes';

export type Hash = Uint8Array;
/** SHA-256 of bytes. */
export type Sha256 = (data: Uint8Array) => Uint8Array;

const LEAF = new Uint8Array([0]);
const NODE = new Uint8Array([1]);

export const leafHash = (sha256: Sha256, input: Uint8Array): Hash => sha256(concatBytes(LEAF, input));
export const nodeHash = (sha256: Sha256, left: Hash, right: Hash): Hash => sha256(concatBytes(NODE, left, right));
export const emptyRoot = (sha256: Sha256): Hash => sha256(new Uint8Array(0));

/** k, the largest power of two smaller than n (n ≥ 2), and its level l (k = 2^l). */
const maxpow2 = (n: number): { k: number; level: number } => {
  let level = 0;
  while (2 ** (level + 1) < n) level++;
  return { k: 2 ** level, level };
};

const half = (n: number, times = 1): number => Math.floor(n / 2 ** times);

/** How many trailing one bits n has (the subtrees its leaf completes). */
const trailingOnes = (n: number): number => {
  let m = 0;
  for (let x = n; x % 2 === 1; x = half(x)) m++;
  return m;
};

/** The dense index of the hash of the complete subtree at `level` (0: leaves) and horizontal position `n`. */
export const storedHashIndex = (level: number, n: number): number => {
  let x = n;
  for (let l = level; l > 0; l--) x = 2 * x + 1;
  let i = 0;
  for (; x > 0; x = half(x)) i += x;
  return i + level;
};

/** The inverse of `storedHashIndex`. */
export const splitStoredHashIndex = (index: number): { level: number; n: number } => {
  let n = half(index);
  let indexN = storedHashIndex(0, n);
  if (indexN > index) throw new Error('programmer error: bad math in splitStoredHashIndex');
  for (;;) {
    const x = indexN + 1 + trailingOnes(n);
    if (x > index) break;
    n++;
    indexN = x;
  }
  const level = index - indexN;
  return { level, n: half(n, level) };
};

/** How many hashes a tree of n leaves stores. */
export const storedHashCount = (n: number): number => {
  if (n === 0) return 0;
  return storedHashIndex(0, n - 1) + 1 + trailingOnes(n - 1);
};

/** The stored hashes appending leaf n needs (the left siblings it completes subtrees with), in increasing order. */
export const appendIndexes = (n: number): number[] => {
  const m = trailingOnes(n);
  const out = new Array<number>(m);
  for (let i = 0; i < m; i++) out[m - 1 - i] = storedHashIndex(i, half(n, i) - 1);
  return out;
};

/** The hashes to store when appending leaf n (from index `storedHashIndex(0, n)` on): its hash, then each subtree it completes. */
export const appendHashes = (sha256: Sha256, n: number, leaf: Hash, old: ReadonlyArray<Hash>): Hash[] => {
  const m = old.length;
  if (m !== trailingOnes(n)) throw new Error('programmer error: appendHashes needs the hashes appendIndexes names');
  const out = [leaf];
  let h = leaf;
  for (let i = 0; i < m; i++) {
    h = nodeHash(sha256, old[m - 1 - i]!, h);
    out.push(h);
  }
  return out;
};

// ─── Subtrees, roots ──────────────────────────────────────────────────────

/** Indexes of the stored hashes whose combination is the hash of leaves [lo, hi) (lo aligned as the tree splits it). */
const subTreeIndexes = (lo: number, hi: number, need: number[]): number[] => {
  let at = lo;
  while (at < hi) {
    const { k, level } = maxpow2(hi - at + 1);
    need.push(storedHashIndex(level, half(at, level)));
    at += k;
  }
  return need;
};

/** The hash of leaves [lo, hi) from the hashes `subTreeIndexes` named; returns it and the hashes left over. */
const subTreeHash = (sha256: Sha256, lo: number, hi: number, hashes: ReadonlyArray<Hash>): [Hash, ReadonlyArray<Hash>] => {
  let trees = 0;
  for (let at = lo; at < hi; trees++) at += maxpow2(hi - at + 1).k;
  if (hashes.length < trees || trees === 0) throw new Error('programmer error: bad index math in subTreeHash');
  let h = hashes[trees - 1]!;
  for (let i = trees - 2; i >= 0; i--) h = nodeHash(sha256, hashes[i]!, h);
  return [h, hashes.slice(trees)];
};

export const treeHashIndexes = (n: number): number[] => (n === 0 ? [] : subTreeIndexes(0, n, []));

/** The root of the tree of n leaves from the hashes `treeHashIndexes(n)` names. */
export const treeHashFrom = (sha256: Sha256, n: number, hashes: ReadonlyArray<Hash>): Hash => {
  if (n === 0) return emptyRoot(sha256);
  const [h, rest] = subTreeHash(sha256, 0, n, hashes);
  if (rest.length !== 0) throw new Error('programmer error: bad index math in treeHashFrom');
  return h;
};

// ─── Inclusion (RFC 9162 §2.1.3) ──────────────────────────────────────────

const leafProofIndexes = (lo: number, hi: number, n: number, need: number[]): number[] => {
  if (!(lo <= n && n < hi)) throw new Error('programmer error: bad math in leafProofIndexes');
  if (lo + 1 === hi) return need;
  const { k } = maxpow2(hi - lo);
  if (n < lo + k) {
    leafProofIndexes(lo, lo + k, n, need);
    subTreeIndexes(lo + k, hi, need);
  } else {
    subTreeIndexes(lo, lo + k, need);
    leafProofIndexes(lo + k, hi, n, need);
  }
  return need;
};

const leafProof = (sha256: Sha256, lo: number, hi: number, n: number, hashes: ReadonlyArray<Hash>): [Hash[], ReadonlyArray<Hash>] => {
  if (lo + 1 === hi) return [[], hashes];
  const { k } = maxpow2(hi - lo);
  if (n < lo + k) {
    const [p, rest] = leafProof(sha256, lo, lo + k, n, hashes);
    const [th, rest2] = subTreeHash(sha256, lo + k, hi, rest);
    return [[...p, th], rest2];
  }
  const [th, rest] = subTreeHash(sha256, lo, lo + k, hashes);
  const [p, rest2] = leafProof(sha256, lo + k, hi, n, rest);
  return [[...p, th], rest2];
};

/** The stored hashes the proof that the tree of size t holds leaf n is made of. */
export const inclusionProofIndexes = (t: number, n: number): number[] => {
  if (!(t > 0 && n >= 0 && n < t)) throw new Error('programmer error: inclusion proof of a leaf outside the tree');
  return leafProofIndexes(0, t, n, []);
};

export const inclusionProofFrom = (sha256: Sha256, t: number, n: number, hashes: ReadonlyArray<Hash>): Hash[] => {
  const [p, rest] = leafProof(sha256, 0, t, n, hashes);
  if (rest.length !== 0) throw new Error('programmer error: bad index math in inclusionProofFrom');
  return p;
};

const runInclusion = (sha256: Sha256, p: ReadonlyArray<Hash>, lo: number, hi: number, n: number, leaf: Hash): Hash | undefined => {
  if (lo + 1 === hi) return p.length === 0 ? leaf : undefined;
  if (p.length === 0) return undefined;
  const { k } = maxpow2(hi - lo);
  const last = p[p.length - 1]!;
  const rest = p.slice(0, -1);
  if (n < lo + k) {
    const th = runInclusion(sha256, rest, lo, lo + k, n, leaf);
    return th && nodeHash(sha256, th, last);
  }
  const th = runInclusion(sha256, rest, lo + k, hi, n, leaf);
  return th && nodeHash(sha256, last, th);
};

const isHash = (h: Uint8Array): boolean => h.length === 32;

/** The root a proof for leaf n of a tree of size t implies (undefined: malformed for that leaf and size). */
export const rootFromInclusion = (sha256: Sha256, proof: ReadonlyArray<Hash>, t: number, n: number, leaf: Hash): Hash | undefined => {
  if (!Number.isSafeInteger(t) || !Number.isSafeInteger(n) || t < 1 || n < 0 || n >= t || !isHash(leaf) || !proof.every(isHash)) return undefined;
  return runInclusion(sha256, proof, 0, t, n, leaf);
};

/** Whether `proof` shows that the tree of size t with root `root` has `leaf` as its leaf n. */
export const verifyInclusion = (sha256: Sha256, proof: ReadonlyArray<Hash>, t: number, root: Hash, n: number, leaf: Hash): boolean => {
  const r = rootFromInclusion(sha256, proof, t, n, leaf);
  return r !== undefined && equalBytes(r, root);
};

// ─── Consistency (RFC 9162 §2.1.4) ────────────────────────────────────────

const treeProofIndexes = (lo: number, hi: number, n: number, need: number[]): number[] => {
  if (!(lo < n && n <= hi)) throw new Error('programmer error: bad math in treeProofIndexes');
  if (n === hi) return lo === 0 ? need : subTreeIndexes(lo, hi, need);
  const { k } = maxpow2(hi - lo);
  if (n <= lo + k) {
    treeProofIndexes(lo, lo + k, n, need);
    subTreeIndexes(lo + k, hi, need);
  } else {
    subTreeIndexes(lo, lo + k, need);
    treeProofIndexes(lo + k, hi, n, need);
  }
  return need;
};

const treeProof = (sha256: Sha256, lo: number, hi: number, n: number, hashes: ReadonlyArray<Hash>): [Hash[], ReadonlyArray<Hash>] => {
  if (n === hi) {
    if (lo === 0) return [[], hashes];
    const [th, rest] = subTreeHash(sha256, lo, hi, hashes);
    return [[th], rest];
  }
  const { k } = maxpow2(hi - lo);
  if (n <= lo + k) {
    const [p, rest] = treeProof(sha256, lo, lo + k, n, hashes);
    const [th, rest2] = subTreeHash(sha256, lo + k, hi, rest);
    return [[...p, th], rest2];
  }
  const [th, rest] = subTreeHash(sha256, lo, lo + k, hashes);
  const [p, rest2] = treeProof(sha256, lo + k, hi, n, rest);
  return [[...p, th], rest2];
};

/** The stored hashes the proof that the tree of size t extends the tree of size n (1 ≤ n ≤ t) is made of. */
export const consistencyProofIndexes = (t: number, n: number): number[] => {
  if (!(n >= 1 && n <= t)) throw new Error('programmer error: consistency proof between sizes out of order');
  return treeProofIndexes(0, t, n, []);
};

export const consistencyProofFrom = (sha256: Sha256, t: number, n: number, hashes: ReadonlyArray<Hash>): Hash[] => {
  const [p, rest] = treeProof(sha256, 0, t, n, hashes);
  if (rest.length !== 0) throw new Error('programmer error: bad index math in consistencyProofFrom');
  return p;
};

const runConsistency = (sha256: Sha256, p: ReadonlyArray<Hash>, lo: number, hi: number, n: number, old: Hash): [Hash, Hash] | undefined => {
  if (n === hi) {
    if (lo === 0) return p.length === 0 ? [old, old] : undefined;
    return p.length === 1 ? [p[0]!, p[0]!] : undefined;
  }
  if (p.length === 0) return undefined;
  const { k } = maxpow2(hi - lo);
  const last = p[p.length - 1]!;
  const rest = p.slice(0, -1);
  if (n <= lo + k) {
    const r = runConsistency(sha256, rest, lo, lo + k, n, old);
    return r && [r[0], nodeHash(sha256, r[1], last)];
  }
  const r = runConsistency(sha256, rest, lo + k, hi, n, old);
  return r && [nodeHash(sha256, last, r[0]), nodeHash(sha256, last, r[1])];
};

/**
 * Whether `proof` shows that the tree of size t with root `newRoot` extends (holds as its first n leaves) the tree
 * of size n with root `oldRoot`. Size 0 is consistent with anything (empty proof); equal sizes need equal roots.
 */
export const verifyConsistency = (sha256: Sha256, proof: ReadonlyArray<Hash>, t: number, newRoot: Hash, n: number, oldRoot: Hash): boolean => {
  if (!Number.isSafeInteger(t) || !Number.isSafeInteger(n) || n < 0 || n > t || !isHash(newRoot) || !isHash(oldRoot) || !proof.every(isHash)) return false;
  if (n === 0) return proof.length === 0;
  const r = runConsistency(sha256, proof, 0, t, n, oldRoot);
  return r !== undefined && equalBytes(r[0], oldRoot) && equalBytes(r[1], newRoot);
};

// ─── Building a tree leaf by leaf (a verifier recomputing it) ─────────────

/**
 * A tree grown one leaf at a time in O(log n) memory: the hashes of its complete subtrees from the left (its
 * compact range). `push` returns the hashes a writer stores for that leaf, in stored-hash order, so a reader can
 * compare them with the stored index as it goes; `root` is the root of the leaves pushed so far.
 */
export class TreeBuilder {
  private readonly frontier: Array<{ level: number; hash: Hash }> = [];
  private leaves = 0;

  constructor(private readonly sha256: Sha256) {}

  get size(): number {
    return this.leaves;
  }

  push(leaf: Hash): Hash[] {
    const out = [leaf];
    let h = leaf;
    let level = 0;
    while (this.frontier.length > 0 && this.frontier[this.frontier.length - 1]!.level === level) {
      h = nodeHash(this.sha256, this.frontier.pop()!.hash, h);
      level++;
      out.push(h);
    }
    this.frontier.push({ level, hash: h });
    this.leaves++;
    return out;
  }

  root(): Hash {
    if (this.frontier.length === 0) return emptyRoot(this.sha256);
    let r = this.frontier[this.frontier.length - 1]!.hash;
    for (let i = this.frontier.length - 2; i >= 0; i--) r = nodeHash(this.sha256, this.frontier[i]!.hash, r);
    return r;
  }
}

/**
 * Properties of the Merkle tree (fast-check): for random sizes, the root from stored hashes equals the root of a
 * tree grown leaf by leaf and the RFC 9162 definition computed naively; every inclusion and consistency proof
 * verifies, and fails for another leaf, another index, another size or one flipped bit.
 */
import test from 'ava';
import { hash } from 'node:crypto';
import fc from 'fast-check';
import { concatBytes, fromBase64, toBase64, utf8 } from '../../src/domain/tlog/bytes';
import {
  appendHashes,
  appendIndexes,
  consistencyProofFrom,
  consistencyProofIndexes,
  type Hash,
  inclusionProofFrom,
  inclusionProofIndexes,
  leafHash,
  nodeHash,
  storedHashCount,
  TreeBuilder,
  treeHashFrom,
  treeHashIndexes,
  verifyConsistency,
  verifyInclusion,
} from '../../src/domain/tlog/merkle';

const sha256 = (d: Uint8Array): Uint8Array => new Uint8Array(hash('sha256', d, 'buffer') as unknown as Buffer);
const runs = Number(process.env['FUZZ_RUNS'] ?? 60);

/** RFC 9162 §2.1.1, as written: MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of two < n. */
const naiveRoot = (leaves: ReadonlyArray<Hash>): Hash => {
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(sha256, naiveRoot(leaves.slice(0, k)), naiveRoot(leaves.slice(k)));
};

const grown = (n: number): { leaves: Hash[]; storage: Hash[] } => {
  const leaves: Hash[] = [];
  const storage: Hash[] = [];
  for (let i = 0; i < n; i++) {
    const leaf = leafHash(sha256, utf8(`event ${i}`));
    leaves.push(leaf);
    storage.push(
      ...appendHashes(
        sha256,
        i,
        leaf,
        appendIndexes(i).map((x) => storage[x]!),
      ),
    );
  }
  return { leaves, storage };
};

const flip = (proof: ReadonlyArray<Hash>, k: number, bit: number): Hash[] =>
  proof.map((h, i) => (i === k ? concatBytes(new Uint8Array([h[0]! ^ (1 << bit)]), h.subarray(1)) : h));

test('the root of n leaves: from stored hashes = grown leaf by leaf = RFC 9162 computed naively; ~2n hashes stored', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), (n) => {
        const { leaves, storage } = grown(n);
        const b = new TreeBuilder(sha256);
        for (const l of leaves) b.push(l);
        const fromStored = treeHashFrom(
          sha256,
          n,
          treeHashIndexes(n).map((i) => storage[i]!),
        );
        const naive = naiveRoot(leaves);
        return (
          toBase64(fromStored) === toBase64(naive) && toBase64(b.root()) === toBase64(naive) && storage.length === storedHashCount(n) && storage.length < 2 * n
        );
      }),
      { numRuns: runs },
    ),
  );
});

test('every inclusion proof verifies, and not for another leaf, index, tree size or with a bit flipped', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.constant(n), fc.nat(n - 1), fc.nat(31), fc.nat(7))),
        ([n, i, k, bit]) => {
          const { leaves, storage } = grown(n);
          const root = naiveRoot(leaves);
          const proof = inclusionProofFrom(
            sha256,
            n,
            i,
            inclusionProofIndexes(n, i).map((x) => storage[x]!),
          );
          const ok = verifyInclusion(sha256, proof, n, root, i, leaves[i]!);
          const otherLeaf = n > 1 && verifyInclusion(sha256, proof, n, root, i, leaves[(i + 1) % n]!);
          const otherIndex = n > 1 && verifyInclusion(sha256, proof, n, root, (i + 1) % n, leaves[i]!);
          const largerTree = verifyInclusion(sha256, proof, n + 1 + k, naiveRoot(grown(n + 1 + k).leaves), i, leaves[i]!);
          const flipped = proof.length > 0 && verifyInclusion(sha256, flip(proof, k % proof.length, bit), n, root, i, leaves[i]!);
          return ok && !otherLeaf && !otherIndex && !largerTree && !flipped;
        },
      ),
      { numRuns: runs },
    ),
  );
});

test('every consistency proof between two sizes verifies, and not against another old root or with a bit flipped', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 1, max: n }), fc.nat(31), fc.nat(7))),
        ([n, m, k, bit]) => {
          const { leaves, storage } = grown(n);
          const newRoot = naiveRoot(leaves);
          const oldRoot = naiveRoot(leaves.slice(0, m));
          const proof = consistencyProofFrom(
            sha256,
            n,
            m,
            consistencyProofIndexes(n, m).map((x) => storage[x]!),
          );
          const ok = verifyConsistency(sha256, proof, n, newRoot, m, oldRoot);
          const otherOld = m > 1 && verifyConsistency(sha256, proof, n, newRoot, m, naiveRoot(leaves.slice(0, m - 1)));
          const rewritten = m > 1 && verifyConsistency(sha256, proof, n, newRoot, m, naiveRoot([leaves[1]!, leaves[0]!, ...leaves.slice(2, m)]));
          const flipped = proof.length > 0 && verifyConsistency(sha256, flip(proof, k % proof.length, bit), n, newRoot, m, oldRoot);
          return ok && !otherOld && !rewritten && !flipped;
        },
      ),
      { numRuns: runs },
    ),
  );
});

test('base64 round-trips any bytes, and reads back only its own spelling', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const text = toBase64(bytes);
        return text === Buffer.from(bytes).toString('base64') && toBase64(fromBase64(text)!) === text;
      }),
      { numRuns: runs * 5 },
    ),
  );
});

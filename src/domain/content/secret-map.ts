/**
 * An immutable map of secrets by name whose `set` and `delete` copy a bucket and the bucket table, not the
 * whole map: folding a content stream of n puts costs O(n · (B + n/B)), not O(n²) — a deployment of 10,000
 * secrets loads in milliseconds, not seconds. Pure.
 */
const BUCKETS = 256;

const bucketOf = (key: string): number => {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
  return (h >>> 0) % BUCKETS;
};

export class SecretMap<V> {
  private constructor(
    private readonly buckets: ReadonlyArray<ReadonlyMap<string, V> | undefined>,
    readonly size: number,
  ) {}

  static empty<V>(): SecretMap<V> {
    return new SecretMap<V>(new Array<undefined>(BUCKETS).fill(undefined), 0);
  }

  get(key: string): V | undefined {
    return this.buckets[bucketOf(key)]?.get(key);
  }

  has(key: string): boolean {
    return this.buckets[bucketOf(key)]?.has(key) === true;
  }

  set(key: string, value: V): SecretMap<V> {
    const b = bucketOf(key);
    const bucket = new Map(this.buckets[b]);
    const added = bucket.has(key) ? 0 : 1;
    bucket.set(key, value);
    const buckets = this.buckets.slice();
    buckets[b] = bucket;
    return new SecretMap(buckets, this.size + added);
  }

  delete(key: string): SecretMap<V> {
    const b = bucketOf(key);
    if (!this.buckets[b]?.has(key)) return this;
    const bucket = new Map(this.buckets[b]);
    bucket.delete(key);
    const buckets = this.buckets.slice();
    buckets[b] = bucket;
    return new SecretMap(buckets, this.size - 1);
  }

  *values(): IterableIterator<V> {
    for (const bucket of this.buckets) if (bucket) yield* bucket.values();
  }
}

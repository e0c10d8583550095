/** One benchmark's outcome: ours against a baseline measured in the same run, as a ratio, with its target. */
export interface BenchResult {
  readonly name: string;
  readonly ours: string;
  readonly baseline: string;
  readonly ratio: number;
  readonly target?: { readonly op: '<=' | '>='; readonly value: number };
  readonly note?: string;
}

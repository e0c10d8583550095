/**
 * The dashboard's board for a big fleet (docs/adr/0019, addendum), over synthetic activation views (no ledger: the
 * views a change of the live view hands the server). Each round builds fresh views, so nothing rendered for an earlier
 * view is reused, then times what one push after a change costs: sort and count the fleet, render the viewer's page.
 *
 *   board-push    one viewer's push, page 1 of 100 rows, vs the whole board rendered and pushed as it was before paging
 *                 (every row, the same row renderer), same fleet, interleaved: time ratio and bytes sent.     reported
 *   board-scale   that push for BENCH_BOARD_FLEET (5,000) instances vs for a fifth of them, interleaved: how it grows
 *                 (5x when linear, 25x when quadratic, as the board was before this change).           target ≤ 7.5x
 *
 * Options (env): BENCH_BOARD_FLEET (default 5,000), BENCH_BOARD_ROUNDS (default 7; medians).
 */
import { ALL, renderBoard } from '../src/http/board';
import type { ActivationView } from '../src/projections/activation';
import { type FleetMember, type FleetState, fleetId, fleetView } from '../test/support/fleet-view';
import type { BenchResult } from './result';

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

const stateOf = (n: number): FleetState =>
  n % 50 === 7 ? 'disabled' : n % 70 === 3 ? 'waiting-to-join' : n % 90 === 1 ? (n % 180 === 1 ? 'removed-holding' : 'removed') : 'activated';

const membersOf = (n: number): ReadonlyArray<FleetMember> => Array.from({ length: n }, (_, i) => ({ state: stateOf(i) }));

/** One push after a change: a new view, the viewer's page of `pageSize` rows. Returns its time (ms) and the bytes it sends. */
const push = (v: ActivationView, pageSize: number): { readonly ms: number; readonly bytes: number } => {
  const start = now();
  const r = renderBoard(v, ALL, 'operator', fleetId(0), pageSize);
  const data = JSON.stringify({ summary: r.summary.text, rows: r.rows.text });
  return { ms: now() - start, bytes: Buffer.byteLength(data) };
};

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

export const benchBoard = async (
  fleet = Number(process.env['BENCH_BOARD_FLEET'] ?? 5000),
  rounds = Number(process.env['BENCH_BOARD_ROUNDS'] ?? 7),
): Promise<ReadonlyArray<BenchResult>> => {
  const big = membersOf(fleet);
  const small = membersOf(Math.round(fleet / 5));
  const page: number[] = [];
  const whole: number[] = [];
  const tenth: number[] = [];
  let pageBytes = 0;
  let wholeBytes = 0;
  // A warm-up of each, then the rounds, interleaved.
  push(fleetView(small), 100);
  push(fleetView(big), 100);
  for (let r = 0; r < rounds; r++) {
    const p = push(fleetView(big), 100);
    page.push(p.ms);
    pageBytes = p.bytes;
    const w = push(fleetView(big), fleet);
    whole.push(w.ms);
    wholeBytes = w.bytes;
    tenth.push(push(fleetView(small), 100).ms);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const kb = (b: number): string => `${(b / 1024).toFixed(0)} KiB`;
  return [
    {
      name: `board-push: one viewer's push after a change, ${fleet} instances: its page (100 rows) vs the whole board`,
      ours: `${median(page).toFixed(1)} ms, ${kb(pageBytes)}`,
      baseline: `${median(whole).toFixed(1)} ms, ${kb(wholeBytes)}`,
      ratio: median(page) / median(whole),
      note: `bytes per viewer and push ${(pageBytes / wholeBytes).toFixed(3)}x; a push is not sent at all when the viewer's page did not change`,
    },
    {
      name: `board-scale: that push for ${fleet} instances vs ${small.length}`,
      ours: `${median(page).toFixed(1)} ms`,
      baseline: `${median(tenth).toFixed(1)} ms`,
      ratio: median(page) / median(tenth),
      target: { op: '<=', value: 7.5 },
      note: `${rounds} rounds, medians; the sort and counts of a view are made once, for every viewer of it`,
    },
  ];
};

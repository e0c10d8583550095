/**
 * Progress for long work (replays over large ledgers), on stderr, only on a
 * terminal and never in --json mode, so scripts and logs stay clean.
 */
import cliProgress from 'cli-progress';

export interface ProgressReporter {
  readonly update: (processed: number) => void;
  readonly stop: () => void;
}

export const progressReporter = (io: { readonly isTTY: boolean }, enabled: boolean, label: string): ProgressReporter => {
  if (!enabled || !io.isTTY) return { update: () => undefined, stop: () => undefined };
  let bar: cliProgress.SingleBar | undefined;
  const started = Date.now();
  return {
    update: (processed) => {
      if (!bar) {
        if (Date.now() - started < 300) return; // short work gets no bar
        bar = new cliProgress.SingleBar(
          { format: `${label} | {value} events | {duration}s`, stream: process.stderr, clearOnComplete: true, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(0, processed);
      }
      bar.update(processed);
    },
    stop: () => bar?.stop(),
  };
};

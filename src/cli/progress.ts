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

/**
 * A bar for work of known size (re-encrypting n secrets), drawn on the Io's stderr with carriage returns: only on a
 * terminal, never in --json mode, at most about ten redraws a second, and the line ended when the work stops.
 */
export const countedProgress = (
  io: { readonly isTTY: boolean; readonly stderr: (s: string) => void },
  enabled: boolean,
  label: string,
  width = 30,
): { readonly update: (done: number, total: number) => void; readonly stop: () => void } => {
  if (!enabled || !io.isTTY) return { update: () => undefined, stop: () => undefined };
  let drawn = false;
  let last = 0;
  return {
    update: (done, total) => {
      const now = Date.now();
      if (drawn && done < total && now - last < 100) return;
      last = now;
      drawn = true;
      const filled = total === 0 ? width : Math.round((done / total) * width);
      io.stderr(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`);
    },
    stop: () => {
      if (drawn) io.stderr('\n');
    },
  };
};

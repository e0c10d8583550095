/**
 * Pause points for race tests (and fault points for crash tests, below): a command passes named points (see
 * src/commands/handler.ts: `<command>:before-append:<event type>`); when
 * KEYLEDGER_PAUSE_AT names the point reached, the process writes
 * `<KEYLEDGER_PAUSE_FILE>.reached` and waits until `<KEYLEDGER_PAUSE_FILE>`
 * exists (at most 60 s), once. A test holds one process there, runs another
 * command to completion, then releases it: both interleavings of a race,
 * deterministically. Without both variables there is no pause and no cost.
 */
import * as fs from 'node:fs';
import type { Pause } from '../ports/pause';

const MAX_WAIT_MS = 60_000;

const pauseAt = (env: NodeJS.ProcessEnv): Pause | undefined => {
  const at = env['KEYLEDGER_PAUSE_AT'];
  const file = env['KEYLEDGER_PAUSE_FILE'];
  if (!at || !file) return undefined;
  let used = false;
  return async (point) => {
    if (used || point !== at) return;
    used = true;
    fs.writeFileSync(`${file}.reached`, point);
    const until = Date.now() + MAX_WAIT_MS;
    while (!fs.existsSync(file) && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  };
};

/**
 * Fault points, for crash tests (issue 11): KEYLEDGER_POINTS_FILE lists every point a run passes (one per line);
 * KEYLEDGER_KILL_AT=<point> makes the process kill itself (SIGKILL: no cleanup, like a power cut) when it reaches
 * that point. Both, and the pause above, are test-only; without the variables there is no cost.
 */
export const pauseFromEnv = (env: NodeJS.ProcessEnv): Pause | undefined => {
  const pause = pauseAt(env);
  const list = env['KEYLEDGER_POINTS_FILE'];
  const kill = env['KEYLEDGER_KILL_AT'];
  if (!pause && !list && !kill) return undefined;
  return async (point) => {
    if (list) fs.appendFileSync(list, `${point}\n`);
    if (kill === point) process.kill(process.pid, 'SIGKILL');
    await pause?.(point);
  };
};

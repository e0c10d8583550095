/** `keyledger watch [--count N]`: follow activation changes live from the durable-checkpointed view. */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { sha256Hex } from '../../infra/sha256';
import { activationProjection } from '../../projections/activation';
import { type InstanceStatus, listInstances } from '../../projections/status';
import { type CliError, EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { shown } from '../../domain/text';
import { fail, viewCheckpoints, withSession } from '../session';

const describe = (st: InstanceStatus): string => (st.state === 'disabled' ? `disabled (${st.reason._tag})` : st.state);

const watchCommand = async (io: Io, g: GlobalOptions, count: number | undefined): Promise<number> => {
  if (count !== undefined && (!Number.isInteger(count) || count < 1))
    return fail(io, { _tag: 'UsageError', message: '--count takes a whole number of at least 1' });
  return withSession(io, g, async (s) => {
    const checkpoints = viewCheckpoints(s);
    if (E.isLeft(checkpoints)) return checkpoints;
    const seen = new Map<string, string>();
    let changes = 0;
    let seeded = false;
    const { runLive } = await import('../../projections/live'); // rxjs: loaded by the live command only
    const result = await new Promise<CliError | undefined>((resolve) => {
      const sub = runLive(s.store, activationProjection, checkpoints.right, { digest: sha256Hex }).subscribe({
        next: (v) => {
          const first = !seeded; // the first view is the current picture: remembered, not reported
          seeded = true;
          if (first) io.stderr(`watching ${listInstances(v.state).length} instance(s) from position ${v.position.commit} (Ctrl-C to stop)\n`);
          for (const st of listInstances(v.state)) {
            if (st.state === 'not-initialized') continue;
            const id = st.view.installationId;
            const now = describe(st);
            const before = seen.get(id);
            seen.set(id, now);
            if (first || before === now) continue;
            changes++;
            const line = {
              installationId: id,
              machineName: st.view.machineName,
              instanceName: st.view.instanceName,
              from: before ?? null,
              to: now,
              at: v.position.commit.toString(),
            };
            io.stdout(
              g.json
                ? `${JSON.stringify(line)}\n`
                : `${shown(id)} (${shown(st.view.instanceName ?? '?')} on ${shown(st.view.machineName ?? '?')}): ${before ?? 'new'} → ${now}\n`,
            );
            if (count !== undefined && changes >= count) {
              sub.unsubscribe();
              resolve(undefined);
              return;
            }
          }
        },
        error: (e: CliError) => resolve(e),
      });
      const stop = (): void => {
        sub.unsubscribe();
        resolve(undefined);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    checkpoints.right.close();
    return result ? E.left(result) : E.right(EXIT.ok);
  });
};

export const registerWatch = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('watch')
    .description(
      "follow the ledger live: print every change of an instance's state as it is recorded (one JSON object per line with --json); stops on Ctrl-C, or after --count changes",
    )
    .option('--count <n>', 'stop after n changes', (v) => Number.parseInt(v, 10))
    .action(async (o: { count?: number }) => done(await watchCommand(io, globals(), o.count)));
};

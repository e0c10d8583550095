/**
 * The served instance runs its start check as a report server does when its service starts (`keyledger start`: the
 * proof that its installation ID and key pair match the deployment, recorded when it says something new), and again
 * when the live view shows a copy of the key newly wrapped for it — so an instance waiting to join comes up by itself
 * once a member joined it, as SSRS's scale-out page shows a node going from Waiting to Join to Joined.
 */
import { randomUUID } from 'node:crypto';
import * as E from 'fp-ts/Either';
import { describeError } from '../cli/errors';
import { instanceDeps, sessionOn, witnessDeps } from '../cli/session';
import { startInstance } from '../commands/instance';
import { startWitness } from '../commands/witness';
import { instanceStatus } from '../projections/status';
import type { ServerContext } from './context';

export interface SelfStart {
  /** Runs the start check now (resolves with the state it found). */
  readonly run: () => Promise<string>;
  readonly stop: () => void;
}

export const selfStart = (ctx: ServerContext, actor: string, log: (entry: Record<string, unknown>, message: string) => void): SelfStart => {
  let running: Promise<string> | undefined;
  let triedCopy: string | undefined;
  const run = (): Promise<string> => {
    running ??= ctx.exclusive(async () => {
      // The config as it is now (an identity change over HTTP rewrote it).
      ctx.reloadConfig();
      const s = sessionOn(ctx.base(), { actor, correlationId: randomUUID() });
      try {
        const deps = await instanceDeps(s, 'start');
        const w = await witnessDeps(s, deps);
        const witness = E.isRight(w) && w.right ? startWitness(w.right) : undefined;
        const r = await startInstance({ ...deps, ...(witness ? { witness } : {}) }, s.config.instance);
        if (E.isLeft(r)) {
          log({ command: 'start', error: r.left._tag, message: describeError(r.left) }, 'start check failed');
          return 'error';
        }
        log({ command: 'start', state: r.right.state, recorded: r.right.recorded, reason: r.right.reason?._tag }, 'start check');
        return r.right.state;
      } finally {
        s.closeLocal();
        running = undefined;
      }
    });
    return running;
  };
  const stopListening = ctx.view.onChange((v) => {
    if (v.kind !== 'live') return;
    const id = ctx.base().config.instance.installationId;
    const st = instanceStatus(v.view, id);
    if (st.state !== 'initializing' || st.completedSteps !== 4) return;
    // A copy of the current key is wrapped for it and not proved yet: once per copy.
    const d = st.view.deploymentId === null ? undefined : v.view.deployments[st.view.deploymentId];
    const copy = d?.copies[id.toLowerCase()]?.at.position;
    if (copy === undefined || copy === triedCopy || running) return;
    triedCopy = copy;
    void run();
  });
  return { run, stop: stopListening };
};

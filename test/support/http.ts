/**
 * A `keyledger serve` in process for tests: the server over a session of one test node (pooled keys), its log
 * captured, and tokens issued through the CLI (`token create`), as an operator would.
 */
import { PassThrough } from 'node:stream';
import * as E from 'fp-ts/Either';
import { openSession } from '../../src/cli/session';
import { type RunningServer, startServer } from '../../src/http/server';
import type { Live } from '../../src/http/served-view';
import { tokenFileOf } from '../../src/infra/token-file';
import type { Session } from '../../src/cli/session';
import { cli } from './cli-inproc';
import { pooledCrypto } from './pooled-crypto';
import type { TestNode } from './nodes';

export interface Served {
  readonly server: RunningServer;
  readonly session: Session;
  /** Everything the server logged so far. */
  readonly log: () => string;
  readonly close: () => Promise<void>;
}

export const serve = async (
  n: TestNode,
  options: { readonly metricsTokenRequired?: boolean; readonly start?: boolean; readonly boardPageSize?: number } = {},
): Promise<Served> => {
  const io = {
    stdout: () => undefined,
    stderr: () => undefined,
    env: { KEYLEDGER_ACTOR: 'serve@test', KEYLEDGER_HOST: 'test-host', KEYLEDGER_TEST_BACKUP_ITERATIONS: '1000' },
    isTTY: false,
    adapters: { crypto: () => pooledCrypto() },
  };
  const s = await openSession(io, { config: n.file }, { groupCommit: true });
  if (E.isLeft(s)) throw new Error(JSON.stringify(s.left));
  let log = '';
  const logTo = new PassThrough();
  logTo.on('data', (d: Buffer) => (log += d.toString()));
  const running = await startServer(
    s.right,
    {
      host: '127.0.0.1',
      port: 0,
      tokensFile: tokenFileOf(n.file),
      logTo,
      ...(options.metricsTokenRequired ? { metricsTokenRequired: true } : {}),
      ...(options.boardPageSize !== undefined ? { boardPageSize: options.boardPageSize } : {}),
      start: options.start ?? false,
    },
    (line) => (log += `${line}\n`),
  );
  if (E.isLeft(running)) throw new Error(JSON.stringify(running.left));
  await running.right.ctx.view.ready;
  return {
    server: running.right,
    session: s.right,
    log: () => log,
    close: async () => {
      await running.right.close();
      s.right.closeLocal();
      await s.right.store.close();
    },
  };
};

/** A token issued with `keyledger token create` for the node's server. */
export const issueToken = async (n: TestNode, role: string, name: string, deployment?: string): Promise<string> => {
  const r = await cli('-c', n.file, '--json', 'token', 'create', '--role', role, '--name', name, ...(deployment ? ['--deployment', deployment] : []));
  if (r.code !== 0) throw new Error(r.stderr);
  return r.json<{ token: string }>().token;
};

/** Resolves once the served view satisfies `ok` (checked now, then at each change of the view); fails after `ms`. */
export const untilView = (served: Served, what: string, ok: () => boolean, ms = 10_000): Promise<void> => untilLive(served.server.ctx.view, what, ok, ms);

/** The same for any live view of the server (its metrics' one). */
export const untilLive = <S>(live: Live<S>, what: string, ok: () => boolean, ms = 10_000): Promise<void> =>
  new Promise((resolve, reject) => {
    if (ok()) return resolve();
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out waiting for ${what}`));
    }, ms);
    const stop = live.onChange(() => {
      if (!ok()) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
  });

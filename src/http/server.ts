/**
 * A running server over an open session (docs/adr/0019): the live views, the application, the listener and the served
 * instance's own start check, and how to stop them in order. `keyledger serve` runs one until SIGTERM; tests run one
 * in process.
 */
import type { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import * as E from 'fp-ts/Either';
import type { CliError } from '../cli/errors';
import { type Session, usage, viewCheckpoints } from '../cli/session';
import { shown } from '../domain/text';
import { sha256Hex } from '../infra/sha256';
import { type FleetMetrics, fleetMetricsProjection } from '../projections/fleet-metrics';
import { buildApp } from './app';
import { type Authenticator, FailureLimiter, fileAuthenticator } from './auth';
import { type ServerContext, serverContext } from './context';
import { cookieToken, registerDashboard } from './dashboard';
import { registerMetrics } from './metrics';
import { selfStart } from './self-start';
import { keepLive, type Live, servedView } from './served-view';

export interface ServerOptions {
  readonly host: string;
  /** 0: any free port (the running server says which). */
  readonly port: number;
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
  readonly tokensFile: string;
  readonly metricsTokenRequired?: boolean;
  /** Whether the served instance runs its start check (at start-up, and when a copy is wrapped for it); default true. */
  readonly start?: boolean;
  /** Where the server logs (JSON lines); default stderr. */
  readonly logTo?: Writable;
  /** Instead of the token file (tests). */
  readonly authenticator?: Authenticator;
  readonly limiter?: FailureLimiter;
  /** Rows on a page of the dashboard's board (default 100; tests page a small ledger with fewer). */
  readonly boardPageSize?: number;
  /** More routes on the same app, behind the same access check (bench/serve-child.ts adds its appending route). */
  readonly plugins?: ReadonlyArray<(app: FastifyInstance) => void>;
}

export interface RunningServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly ctx: ServerContext;
  /** The metrics' own live view (events per type, backups). */
  readonly fleet: Live<FleetMetrics>;
  /** Stops taking connections, lets the requests under way finish, stops the views. The session (and its store) stays open. */
  readonly close: () => Promise<void>;
}

export const startServer = async (s: Session, o: ServerOptions, warn: (line: string) => void): Promise<E.Either<CliError, RunningServer>> => {
  const checkpoints = viewCheckpoints(s);
  if (E.isLeft(checkpoints)) return checkpoints;
  const view = await servedView(s.store, checkpoints.right, sha256Hex);
  const fleet = await keepLive(s.store, fleetMetricsProjection, checkpoints.right, sha256Hex);
  const ctx = serverContext({ config: s.config, store: s.store, env: s.env, adapters: s.adapters }, view, warn);
  const authenticator = o.authenticator ?? fileAuthenticator(o.tokensFile);
  const limiter = o.limiter ?? new FailureLimiter();
  const app = buildApp({
    ctx,
    auth: { authenticator, limiter, metricsTokenRequired: o.metricsTokenRequired === true, tokenOf: cookieToken },
    ...(o.https ? { https: o.https } : {}),
    ...(o.logTo ? { logTo: o.logTo } : {}),
    plugins: [
      (a) => registerMetrics(a, ctx, fleet),
      (a) =>
        registerDashboard(a, ctx, {
          authenticator,
          limiter,
          secure: o.https !== undefined,
          ...(o.boardPageSize !== undefined ? { pageSize: o.boardPageSize } : {}),
        }),
      ...(o.plugins ?? []),
    ],
  });
  const starter = selfStart(ctx, s.ctx('start').actor, (entry, message) => app.log.info(entry, message));
  const stopViews = (): void => {
    starter.stop();
    view.close();
    fleet.close();
    checkpoints.right.close();
  };
  try {
    await app.listen({ host: o.host, port: o.port });
  } catch (e) {
    stopViews();
    await app.close();
    return usage(`cannot listen on ${shown(`${o.host}:${o.port}`, 80)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  if (o.start !== false) await starter.run();
  return E.right({
    url: `${o.https ? 'https' : 'http'}://${host}:${port}`,
    app,
    ctx,
    fleet,
    close: async () => {
      await app.close();
      stopViews();
    },
  });
};

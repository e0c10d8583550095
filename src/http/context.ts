/**
 * What every handler of the server is given: the served config and store (one store for the whole server, so its
 * appends can share transactions), the live view, and a per-request session whose actor is the request's token.
 */
import { randomUUID } from 'node:crypto';
import * as E from 'fp-ts/Either';
import type { FastifyRequest } from 'fastify';
import type { Io } from '../cli/io';
import { type Session, type SessionBase, sessionOn } from '../cli/session';
import { loadConfig } from '../infra/config';
import { nameProblem } from '../domain/text';
import type { Principal } from './auth';
import type { ServedView } from './served-view';

export interface ServerContext {
  /** The config and store as they are now (the config is read again after `change-identity` rewrote it). */
  readonly base: () => SessionBase;
  readonly reloadConfig: () => void;
  readonly view: ServedView;
  /** An Io for the CLI helpers a handler reuses: nothing on stdout; warnings to the server's log. */
  readonly io: Io;
  /**
   * Runs `f` alone among the operations that change the served instance's own key state (change-identity, restore,
   * recreate, delete-content) and its own start check: a start check must not run halfway through an identity change,
   * under the config the change is about to rewrite.
   */
  readonly exclusive: <A>(f: () => Promise<A>) => Promise<A>;
}

export const serverContext = (base: SessionBase, view: ServedView, warn: (message: string) => void): ServerContext => {
  let current = base;
  let tail: Promise<unknown> = Promise.resolve();
  return {
    exclusive: <A>(f: () => Promise<A>): Promise<A> => {
      const run = tail.then(f);
      tail = run.catch(() => undefined);
      return run;
    },
    base: () => current,
    reloadConfig: () => {
      const c = loadConfig(current.config.file);
      if (E.isRight(c)) current = { ...current, config: c.right };
    },
    view,
    io: { stdout: () => undefined, stderr: (s) => warn(s.trim()), env: base.env, isTTY: false, stdoutIsTTY: false },
  };
};

/**
 * A session for one request: its actor the token's name, its correlation ID the request's `X-Correlation-Id` when
 * that is a valid name (a change ticket), else a new one — the same checks as the CLI's `--correlation-id`.
 */
export const requestSession = (ctx: ServerContext, request: FastifyRequest, who: Principal): Session => {
  const header = request.headers['x-correlation-id'];
  const given = typeof header === 'string' && nameProblem(header) === undefined ? header : undefined;
  return sessionOn(ctx.base(), { actor: who.name, correlationId: given ?? randomUUID() });
};

/**
 * Who may call what (docs/adr/0019): bearer tokens from the token file (src/infra/token-file.ts, hashes only), a role
 * per token, and each route's access declared with the route (`config.access`). Checked before anything else runs:
 *
 *   no token, or one not in the file    401 (with `WWW-Authenticate: Bearer`) — except the ping and the metrics
 *   a role the route does not allow      403
 *   too many bad tokens from one client  429 until its window has passed (`Retry-After`)
 *
 * Every refusal is logged with the route, the client's address and (403) the token's name and role — never the token,
 * nor the URL as sent (a token pasted into a query string stays out of the log too).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as E from 'fp-ts/Either';
import { readTokens, type Role, type TokenFileError, type TokenRecord, tokenFileStamp, tokenHash } from '../infra/token-file';

/** Who a request is: the token's name (the actor of every event the request causes), its role, its deployment (service tokens). */
export interface Principal {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly deployment: string | null;
}

/** `public`: anyone (the ping); `metrics`: anyone unless the server requires a token for it; else the roles allowed. */
export type Access = 'public' | 'metrics' | ReadonlyArray<Role>;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export type AuthResult = E.Either<'missing' | 'malformed' | 'unknown' | TokenFileError, Principal>;

export interface Authenticator {
  readonly authenticate: (token: string | undefined) => AuthResult;
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i;

/** The token of an `Authorization: Bearer …` header (undefined: none; null: a header that is not a bearer token). */
export const bearerOf = (header: string | undefined): string | undefined | null => {
  if (header === undefined) return undefined;
  const m = BEARER.exec(header.trim());
  return m ? (m[1] ?? null) : null;
};

/** Tokens from the file, read again whenever it changed (a `token revoke` takes effect at the next request). */
export const fileAuthenticator = (file: string): Authenticator => {
  let stamp = -1;
  let byHash = new Map<string, TokenRecord>();
  let problem: TokenFileError | undefined;
  const load = (): void => {
    const now = tokenFileStamp(file);
    if (now === stamp) return;
    stamp = now;
    const read = readTokens(file);
    problem = E.isLeft(read) ? read.left : undefined;
    byHash = new Map(E.isRight(read) ? read.right.map((t) => [t.sha256, t]) : []);
  };
  return {
    authenticate: (token) => {
      if (token === undefined) return E.left('missing');
      load();
      if (problem) return E.left(problem);
      const t = byHash.get(tokenHash(token));
      return t ? E.right({ id: t.id, name: t.name, role: t.role, deployment: t.deployment ?? null }) : E.left('unknown');
    },
  };
};

/** Failed authentications per client: at most `max` in `windowMs`; then refused (429) until the window ends. Memory bounded. */
export class FailureLimiter {
  private readonly failures = new Map<string, { count: number; since: number }>();
  constructor(
    private readonly max = 10,
    private readonly windowMs = 60_000,
    private readonly clients = 10_000,
  ) {}

  /** Seconds until this client may try again (undefined: it may now). */
  blocked(client: string, now: number): number | undefined {
    const f = this.failures.get(client);
    if (!f) return undefined;
    if (now - f.since >= this.windowMs) {
      this.failures.delete(client);
      return undefined;
    }
    return f.count >= this.max ? Math.ceil((f.since + this.windowMs - now) / 1000) : undefined;
  }

  fail(client: string, now: number): void {
    const f = this.failures.get(client);
    if (f && now - f.since < this.windowMs) f.count++;
    else {
      if (this.failures.size >= this.clients) this.prune(now);
      this.failures.set(client, { count: 1, since: now });
    }
  }

  private prune(now: number): void {
    for (const [k, f] of this.failures) if (now - f.since >= this.windowMs) this.failures.delete(k);
    // Still full of live windows: forget the oldest (a flood of addresses must not grow memory without bound).
    while (this.failures.size >= this.clients) {
      const first = this.failures.keys().next().value;
      if (first === undefined) break;
      this.failures.delete(first);
    }
  }
}

export interface AuthOptions {
  readonly authenticator: Authenticator;
  readonly limiter: FailureLimiter;
  /** Whether /metrics needs a token (any role). */
  readonly metricsTokenRequired: boolean;
  /** Where a request's token may come from besides the Authorization header (the dashboard's cookie). */
  readonly tokenOf?: (request: FastifyRequest) => string | undefined;
}

const refuse = (request: FastifyRequest, reply: FastifyReply, status: number, error: string, message: string, extra: Record<string, unknown> = {}) => {
  request.log.warn(
    { refused: error, status, method: request.method, route: request.routeOptions.url ?? '(no route)', client: request.ip, ...extra },
    'request refused',
  );
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="keyledger"');
  return reply.code(status).type('application/json; charset=utf-8').send({ error, message });
};

/** Whether the request's Origin is this server (a request authenticated by cookie must not come from another site's page). */
const sameOrigin = (request: FastifyRequest): boolean => {
  const origin = request.headers.origin;
  const host = request.headers.host;
  if (origin === undefined || host === undefined) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
};

/** Installs the check: every route declares its access; a route without one (the not-found handler) is public. */
export const installAuth = (app: FastifyInstance, options: AuthOptions): void => {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config?.access;
    if (access === undefined || access === 'public') return;
    if (access === 'metrics' && !options.metricsTokenRequired) return;
    const now = Date.now();
    const wait = options.limiter.blocked(request.ip, now);
    if (wait !== undefined) {
      reply.header('retry-after', String(wait));
      return refuse(request, reply, 429, 'TooManyFailedAuthentications', `too many requests with a bad token from this client: try again in ${wait} s`);
    }
    const fromHeader = bearerOf(request.headers.authorization);
    const fromCookie = fromHeader === undefined ? options.tokenOf?.(request) : undefined;
    const token = fromHeader === undefined ? fromCookie : fromHeader;
    // A browser sends the dashboard's cookie along with any request, whoever's page made it: a change must come from this origin.
    if (fromCookie !== undefined && request.method !== 'GET' && request.method !== 'HEAD' && !sameOrigin(request))
      return refuse(request, reply, 403, 'CrossOrigin', "a request signed in by cookie that changes something must come from this server's own pages");
    if (token === null) {
      options.limiter.fail(request.ip, now);
      return refuse(request, reply, 401, 'Unauthenticated', 'the Authorization header is not a bearer token: send Authorization: Bearer <token>');
    }
    const who = options.authenticator.authenticate(token);
    if (E.isLeft(who)) {
      const why = who.left;
      if (typeof why !== 'string') {
        request.log.error({ tokenFile: why.file, problem: why.message }, 'the token file cannot be used');
        return refuse(request, reply, 503, 'TokenFileError', 'the server cannot check tokens now (its token file cannot be used): tell its operator');
      }
      if (why !== 'missing') options.limiter.fail(request.ip, now);
      return refuse(
        request,
        reply,
        401,
        'Unauthenticated',
        why === 'missing'
          ? 'this needs a token: send Authorization: Bearer <token> (keyledger token create issues one)'
          : 'the token is not valid here (unknown, or revoked): ask the server operator for one',
      );
    }
    const p = who.right;
    if (access !== 'metrics' && !access.includes(p.role))
      return refuse(request, reply, 403, 'Forbidden', `a ${p.role} token may not do this (allowed: ${access.join(', ')})`, { name: p.name, role: p.role });
    request.principal = p;
  });
};

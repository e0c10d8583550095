/**
 * The server's fastify application: the access check (./auth.ts), the ping (./ping.ts), the JSON API (./api.ts) and its
 * OpenAPI document, the metrics and the dashboard. Errors fastify meets itself (a body that is not JSON, too large, of
 * another type) are answered in the API's shape, `{error, message}`, and never with a stack trace.
 */
import type { Writable } from 'node:stream';
import fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import { API_ROUTES, registerApi } from './api';
import { type AuthOptions, installAuth } from './auth';
import type { ServerContext } from './context';
import { openApiDocument } from './openapi';
import { registerPing } from './ping';

export interface AppOptions {
  readonly ctx: ServerContext;
  readonly auth: AuthOptions;
  /** Where the server logs (JSON lines); default: stderr. */
  readonly logTo?: Writable;
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
  /** More routes (the metrics, the dashboard) registered after the API. */
  readonly plugins?: ReadonlyArray<(app: FastifyInstance) => void>;
}

/** The largest request body taken: a backup file or a secret is at most 64 KiB; a little room for JSON escapes. */
const BODY_LIMIT = 256 * 1024;

export const buildApp = (o: AppOptions): FastifyInstance => {
  const options: FastifyServerOptions = {
    logger: { level: 'info', ...(o.logTo ? { stream: o.logTo } : {}) },
    // Refusals and failures are logged by the access check and the handlers, not every request (a health check a second).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true },
    return503OnClosing: true,
  };
  const app = (o.https
    ? fastify({ ...options, https: { cert: o.https.cert, key: o.https.key } } as FastifyServerOptions)
    : fastify(options)) as unknown as FastifyInstance;
  installAuth(app, o.auth);
  app.setErrorHandler((error: { statusCode?: number; code?: string; message: string }, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error, route: request.routeOptions.url }, 'internal error');
    const message =
      status === 500
        ? 'internal error: this is a bug (the server logged it); nothing more is known here'
        : status === 413
          ? `the request body is larger than ${BODY_LIMIT} bytes`
          : status === 415
            ? 'send the body as application/json'
            : `the request is not valid: ${error.message.slice(0, 200)}`;
    return reply
      .code(status)
      .type('application/json; charset=utf-8')
      .send({ error: status === 500 ? 'InternalError' : (error.code ?? 'BadRequest'), message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .type('application/json; charset=utf-8')
      .send({ error: 'NotFound', message: `no ${request.method} route here (GET /openapi.json lists them)` }),
  );
  const served = o.ctx.base().config.instance.installationId;
  registerPing(app, o.ctx.view, served);
  registerApi(app, o.ctx, API_ROUTES);
  const document = openApiDocument(API_ROUTES);
  app.get('/openapi.json', { config: { access: 'public' } }, (_request, reply) => reply.type('application/json; charset=utf-8').send(document));
  for (const plugin of o.plugins ?? []) plugin(app);
  return app;
};

/**
 * The OpenAPI 3.1 document of the API, derived from the route table (./api.ts) and its io-ts codecs (./codecs.ts):
 * a path, query or body member exists in the document exactly when the codec the handler decodes with defines it.
 */
import type * as t from 'io-ts';
import type { ApiRoute } from './api';
import { membersOf, schemaOf } from './codecs';

const ERROR = {
  type: 'object',
  properties: {
    error: { type: 'string', description: 'the error type (stable, for scripts)' },
    message: { type: 'string', description: 'what, why, what to do' },
  },
  required: ['error', 'message'],
};

const PING = {
  type: 'object',
  properties: {
    installationId: { type: 'string', format: 'uuid' },
    state: { type: 'string', enum: ['not-initialized', 'initializing', 'waiting-to-join', 'activated', 'disabled', 'removed'] },
    activated: { type: 'boolean' },
    keyVersion: { type: 'integer' },
    error: { const: 'RSReportServerNotActivated' },
    code: { type: 'string', description: 'the SSRS error code (rsReportServerDisabled, rsKeyStateNotValid, RSReportServerNotActivated)' },
    reason: { type: 'string' },
    message: { type: 'string' },
    remedy: { type: 'object', description: 'the typed remedy: kind, sentence, steps (each with the keyledger command line), text' },
  },
  required: ['state', 'activated'],
};

/** `/api/secrets/*` → `/api/secrets/{name}`, `:installationId` → `{installationId}`. */
const pathOf = (url: string): string => url.replace(/:([A-Za-z]+)/g, '{$1}').replace(/\*$/, '{name}');

const parameters = (r: ApiRoute): ReadonlyArray<Record<string, unknown>> => {
  const inPath = Object.entries(membersOf(r.params ?? ({} as t.Mixed)) ?? {}).map(([name, c]) => ({
    name: name === '*' ? 'name' : name,
    in: 'path',
    required: true,
    schema: schemaOf(c),
  }));
  const query = schemaOf(r.query) as { properties?: Record<string, unknown>; required?: string[] };
  const inQuery = Object.entries(query.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: query.required?.includes(name) ?? false,
    schema,
  }));
  return [...inPath, ...inQuery];
};

const responses = (r: ApiRoute): Record<string, unknown> => {
  const error = { content: { 'application/json': { schema: ERROR } } };
  const ok =
    r.produces === 'application/x-ndjson'
      ? { description: 'one JSON object a line (an error mid-stream is the last line: {error, message})', content: { 'application/x-ndjson': {} } }
      : r.produces === 'application/json'
        ? { description: 'what the CLI command prints with --json', content: { 'application/json': {} } }
        : { description: 'the report', content: { 'application/json': {}, 'text/html': {}, 'text/csv': {} } };
  return {
    200: ok,
    400: { description: 'bad input: a member missing, unknown or not valid', ...error },
    401: { description: 'no token, or one not valid here', ...error },
    403: { description: "the token's role may not do this (or a service token outside its deployment)", ...error },
    404: { description: 'the named thing is not there', ...error },
    409: { description: "refused by the ledger's rules, this instance not activated, or the ledger altered", ...error },
    429: { description: 'too many bad tokens from this client', ...error },
    500: { description: 'a failure', ...error },
    503: { description: 'the store cannot be reached, or the ledger is still being read', ...error },
  };
};

export const openApiDocument = (routes: ReadonlyArray<ApiRoute>): Record<string, unknown> => {
  const paths: Record<string, Record<string, unknown>> = {
    '/reportserver': {
      get: {
        summary: "the served instance's activation: 200 activated, 503 RSReportServerNotActivated with code, reason and remedy (no token needed)",
        security: [],
        responses: {
          200: { description: 'activated', content: { 'application/json': { schema: PING }, 'text/plain': {} } },
          503: { description: 'not activated (or the ledger cannot be read yet)', content: { 'application/json': { schema: PING }, 'text/plain': {} } },
        },
      },
    },
    '/reportserver/{installationId}': {
      get: {
        summary: "an instance's activation, as /reportserver answers for the served one",
        security: [],
        parameters: [{ name: 'installationId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        responses: {
          200: { description: 'activated', content: { 'application/json': { schema: PING }, 'text/plain': {} } },
          400: { description: 'not an installation ID', content: { 'application/json': { schema: ERROR } } },
          503: { description: 'not activated', content: { 'application/json': { schema: PING }, 'text/plain': {} } },
        },
      },
    },
    '/metrics': {
      get: { summary: 'Prometheus text format (a token of any role when the server requires one)', responses: { 200: { description: 'metrics' } } },
    },
  };
  for (const r of routes) {
    const op: Record<string, unknown> = {
      summary: r.summary,
      'x-roles': r.roles,
      parameters: parameters(r),
      responses: responses(r),
    };
    if (r.body) op['requestBody'] = { required: true, content: { 'application/json': { schema: schemaOf(r.body) } } };
    const p = pathOf(r.url);
    paths[p] = { ...(paths[p] ?? {}), [r.method.toLowerCase()]: op };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'keyledger', version: '0.1.0', description: 'The ledger of SSRS-style encryption keys, as a service: docs/adr/0019-http-service.md' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
};

/**
 * The seed's own check (docs/adr/0019): `GET /reportserver` answers for the served instance, and
 * `GET /reportserver/<installationId>` for any instance of the ledger — 200 when activated, else 503 with
 * `RSReportServerNotActivated`, the SSRS error code, the reason and the typed remedy: the words `keyledger status`
 * prints. Unauthenticated, as a load balancer's health check needs it; answered from the live view in memory
 * (./served-view.ts), never from a read of the ledger. JSON or plain text, by the request's `Accept`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InstallationId } from '../domain/ids';
import { shown, shownDeep } from '../domain/text';
import { explainRefusal, NOT_ACTIVATED } from '../domain/refusal';
import { instanceStatus, type InstanceStatus } from '../projections/status';
import { describeError } from '../cli/errors';
import { notActivatedLine, remedyJson } from '../cli/render';
import type { ServedView, ViewState } from './served-view';

/** Whether the client prefers JSON to plain text (q-values honoured; no Accept, or a tie: plain text, what a load balancer reads). */
export const wantsJson = (accept: string | undefined): boolean => {
  if (accept === undefined) return false;
  let json = -1;
  let text = -1;
  let any = -1;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === 'application/json') json = Math.max(json, q);
    else if (type === 'text/plain' || type === 'text/*') text = Math.max(text, q);
    else if (type === '*/*') any = Math.max(any, q);
  }
  const j = json >= 0 ? json : any;
  const t = text >= 0 ? text : any;
  return j > 0 && j > t;
};

/** The ping's answer for one instance: what a monitor needs, and nothing a stranger should not read (no evidence, no keystore paths). */
export const pingBody = (st: InstanceStatus): Record<string, unknown> => {
  const id = st.state === 'not-initialized' ? st.installationId : st.view.installationId;
  if (st.state === 'activated') return { installationId: id, state: st.state, activated: true, keyVersion: st.keyVersion, since: st.since.occurredAt };
  const code = st.state === 'disabled' ? explainRefusal(st.reason).code : NOT_ACTIVATED;
  return {
    installationId: id,
    state: st.state,
    activated: false,
    error: NOT_ACTIVATED,
    code,
    reason: st.state === 'disabled' ? st.reason._tag : st.state,
    message: notActivatedLine(st),
    remedy: remedyJson(st.remedy),
  };
};

const send = (reply: FastifyReply, json: boolean, status: number, body: Record<string, unknown>, text: string): FastifyReply =>
  reply
    .code(status)
    .header('cache-control', 'no-store')
    .type(json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8')
    .send(json ? JSON.stringify(body) : `${text}\n`);

/** The answer while the view cannot be relied on: the server does not know, so it does not say activated. */
const notKnown = (reply: FastifyReply, json: boolean, s: Exclude<ViewState, { kind: 'live' }>): FastifyReply => {
  const message =
    s.kind === 'starting' ? 'the ledger is still being read: the activation state is not known yet' : `the ledger cannot be read: ${describeError(s.error)}`;
  reply.header('retry-after', '1');
  return send(reply, json, 503, { activated: false, error: s.kind === 'starting' ? 'ViewStarting' : s.error._tag, message }, shown(message, 1000));
};

export const registerPing = (app: FastifyInstance, view: ServedView, served: string): void => {
  const answer = (reply: FastifyReply, json: boolean, id: string): FastifyReply => {
    const s = view.state();
    if (s.kind !== 'live') return notKnown(reply, json, s);
    const st = instanceStatus(s.view, id);
    const body = pingBody(st);
    if (st.state === 'activated') return send(reply, json, 200, body, `activated: installation ${shown(id)}, symmetric key version ${st.keyVersion}`);
    return send(reply, json, 503, body, notActivatedLine(shownDeep(st)) ?? NOT_ACTIVATED);
  };
  const config = { access: 'public' as const };
  app.get('/reportserver', { config }, (request, reply) => answer(reply, wantsJson(request.headers.accept), served));
  app.get('/reportserver/:installationId', { config }, (request: FastifyRequest<{ Params: { installationId: string } }>, reply) => {
    const json = wantsJson(request.headers.accept);
    const id = request.params.installationId.toLowerCase();
    if (!InstallationId.is(id)) {
      const message = `"${shown(request.params.installationId, 64)}" is not an installation ID (a GUID)`;
      return send(reply, json, 400, { error: 'UsageError', message }, message);
    }
    return answer(reply, json, id);
  });
};

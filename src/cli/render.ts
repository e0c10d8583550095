/**
 * How outcomes and views look to a person (text) and to a script (--json).
 */
import type { ActivationOutcome } from '../commands/instance';
import { explainRefusal, NOT_ACTIVATED, refusalLine } from '../domain/refusal';
import { joinAgain, lastResortText, type Remedy, type RemedyStep, remedyFor, remedyText, resumeInit } from '../domain/remedy';
import type { ActivationView } from '../projections/activation';
import { INIT_STEPS, type InstanceStatus } from '../projections/status';
import { allFindings, type Finding } from '../projections/findings';

import { shownDeep } from '../domain/text';

export { printable, shown } from '../domain/text';

const STEP_OF: Record<string, number> = {
  ConfigRead: 1,
  KeyPairIssued: 2,
  PublicKeyStored: 3,
  SymmetricKeyCreated: 4,
  SymmetricKeyWrapped: 4,
  InstanceActivated: 5,
};

/** The one-line reason an instance is not activated, with the remedy, or undefined when it is. */
export const notActivatedLine = (s: InstanceStatus): string | undefined => {
  switch (s.state) {
    case 'activated':
      return undefined;
    case 'not-initialized':
      return `${NOT_ACTIVATED}: installation ${s.installationId} is not initialized. Remedy: ${remedyText(s.remedy)}.`;
    case 'initializing':
      return `${NOT_ACTIVATED}: initialization stopped after step ${s.completedSteps} of 5${
        s.completedSteps > 0 ? ` (${INIT_STEPS[s.completedSteps - 1]})` : ''
      }; next: ${s.nextStep}. Remedy: ${remedyText(s.remedy)}.`;
    case 'waiting-to-join':
      return `${NOT_ACTIVATED}: waiting to join: no copy of symmetric key version ${s.keyVersion} is wrapped for this instance yet. Remedy: ${remedyText(s.remedy)}.`;
    case 'disabled':
      return refusalLine(s.reason, s.remedy);
    case 'removed':
      return (
        `${NOT_ACTIVATED}: installation ${s.view.installationId} was removed from the scale-out deployment ` +
        `(key ${s.revokedThumbprint} revoked, ${s.since.stream}@${s.since.revision}). Remedy: ${remedyText(s.remedy)}.`
      );
  }
};

const stepsJson = (steps: ReadonlyArray<RemedyStep>): ReadonlyArray<Record<string, unknown>> =>
  steps.map((st) => ({
    on: st.on,
    args: st.args,
    command: `keyledger ${st.args.map((a) => (typeof a === 'string' ? a : `<${a.placeholder}>`)).join(' ')}`,
  }));

/** A remedy for scripts: the typed steps, each also as the command line to run, and the sentence (and the last resort, typed the same way). */
export const remedyJson = (r: Remedy): Record<string, unknown> => ({
  kind: r._tag,
  sentence: r.sentence,
  steps: r._tag === 'Run' ? stepsJson(r.steps) : [],
  ...(r._tag === 'Run' && r.lastResort
    ? { lastResort: { sentence: r.lastResort.sentence, steps: stepsJson(r.lastResort.steps), text: lastResortText(r.lastResort) } }
    : {}),
  text: remedyText(r),
});

/** The line operators get, with the first finding's diagnosis when there is one. */
export const notActivatedWithFinding = (s: InstanceStatus, findings: ReadonlyArray<Finding>): string | undefined => {
  const line = notActivatedLine(s);
  const f = findings[0];
  return line && f ? `${line} Finding ${f.kind}: ${f.summary}.` : line;
};

/** Membership as the scale-out page shows it: Joined / Waiting to Join / …, with the key version held. */
export const membershipOf = (s: InstanceStatus, v: ActivationView): { membership: string; heldKeyVersion: number | null } => {
  if (s.state === 'not-initialized') return { membership: 'not-initialized', heldKeyVersion: null };
  const d = s.view.deploymentId === null ? undefined : v.deployments[s.view.deploymentId];
  const copy = d?.copies[s.view.installationId.toLowerCase()];
  const membership = s.state === 'activated' ? 'joined' : s.state;
  return { membership, heldKeyVersion: copy?.keyVersion ?? null };
};

const findingJson = (f: Finding): Record<string, unknown> => ({
  kind: f.kind,
  summary: f.summary,
  remedy: remedyJson(f.remedy),
  evidence: f.evidence,
  events: f.events,
});

export const statusJson = (s: InstanceStatus, findings: ReadonlyArray<Finding> = []): Record<string, unknown> => ({
  ...statusCore(s),
  findings: findings.map(findingJson),
  ...(s.state === 'activated' ? {} : { message: notActivatedWithFinding(s, findings), remedy: remedyJson(s.remedy) }),
});

const statusCore = (s: InstanceStatus): Record<string, unknown> => {
  const base =
    s.state === 'not-initialized'
      ? { installationId: s.installationId, state: s.state }
      : {
          installationId: s.view.installationId,
          deploymentId: s.view.deploymentId,
          machineName: s.view.machineName,
          instanceName: s.view.instanceName,
          serviceIdentity: s.view.serviceIdentity,
          thumbprint: s.view.signingThumbprint ?? s.view.thumbprint,
          keyThumbprint: s.view.thumbprint,
          state: s.state,
        };
  switch (s.state) {
    case 'activated':
      return { ...base, activated: true, keyVersion: s.keyVersion, since: s.since };
    case 'not-initialized':
      return { ...base, activated: false, error: NOT_ACTIVATED, completedSteps: 0, message: notActivatedLine(s) };
    case 'initializing':
      return { ...base, activated: false, error: NOT_ACTIVATED, completedSteps: s.completedSteps, nextStep: s.nextStep, message: notActivatedLine(s) };
    case 'waiting-to-join':
      return { ...base, activated: false, error: NOT_ACTIVATED, completedSteps: s.completedSteps, keyVersion: s.keyVersion, message: notActivatedLine(s) };
    case 'disabled': {
      const x = explainRefusal(s.reason);
      return {
        ...base,
        activated: false,
        error: NOT_ACTIVATED,
        code: x.code,
        reason: s.reason,
        summary: x.summary,
        since: s.since,
        message: notActivatedLine(s),
      };
    }
    case 'removed':
      return { ...base, activated: false, error: NOT_ACTIVATED, revokedThumbprint: s.revokedThumbprint, since: s.since, message: notActivatedLine(s) };
  }
};

/** What status prints: stored text escaped and bounded first (it is untrusted: shownDeep). */
export const statusText = (s: InstanceStatus, findings: ReadonlyArray<Finding> = []): string => statusTextOf(shownDeep(s), shownDeep(findings));

const statusTextOf = (s: InstanceStatus, findings: ReadonlyArray<Finding>): string => {
  if (s.state === 'not-initialized') return `${notActivatedLine(s)}\n`;
  const v = s.view;
  const lines = [
    `instance      ${v.instanceName ?? '?'} on ${v.machineName ?? '?'}`,
    `installation  ${v.installationId}`,
    `deployment    ${v.deploymentId ?? '?'}`,
    `identity      ${v.serviceIdentity ?? '?'}`,
    `thumbprint    ${v.signingThumbprint ?? v.thumbprint ?? '(no key pair yet)'}${v.signingThumbprint ? '  (signing key: what a join confirms)' : ''}`,
  ];
  switch (s.state) {
    case 'activated':
      lines.push(`state         activated (symmetric key version ${s.keyVersion}, since ${s.since.occurredAt}, ${s.since.stream}@${s.since.revision})`);
      break;
    case 'initializing':
      lines.push(`state         initializing (${s.completedSteps}/5 steps recorded)`);
      break;
    case 'waiting-to-join':
      lines.push(`state         waiting to join (steps 1-3 done)`);
      break;
    case 'disabled':
      lines.push(`state         disabled since ${s.since.occurredAt} (${s.since.stream}@${s.since.revision}, by ${s.since.actor})`);
      break;
    case 'removed':
      lines.push(`state         removed since ${s.since.occurredAt} (${s.since.stream}@${s.since.revision}, by ${s.since.actor})`);
      break;
  }
  const why = notActivatedLine(s);
  if (why) lines.push('', why);
  for (const f of findings) {
    lines.push('', `finding       ${f.kind}: ${f.summary}`, `remedy        ${remedyText(f.remedy)}`);
    lines.push(
      `evidence      ${Object.entries(f.evidence)
        .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
        .join('  ')}`,
    );
    for (const e of f.events) lines.push(`  event       ${e.stream}@${e.revision} (position ${e.position}, ${e.occurredAt}, by ${e.actor})`);
  }
  return `${lines.join('\n')}\n`;
};

/** The remedy an init/start outcome prints, typed (for --json) — undefined when activated. */
export const outcomeRemedy = (o: ActivationOutcome): Remedy | undefined => {
  const ctx = { installationId: o.installationId, otherHolders: o.otherHolders, thumbprint: o.thumbprint ?? null, deploymentId: o.deploymentId }; // the join thumbprint
  switch (o.state) {
    case 'activated':
      return undefined;
    case 'initializing':
      return resumeInit(`initialization is incomplete (step ${o.completedSteps ?? 0} of 5 recorded)`);
    case 'waiting-to-join':
      return joinAgain(ctx, 'it is waiting to join');
    case 'disabled':
      return o.reason ? remedyFor(o.reason, ctx) : undefined;
  }
};

export const outcomeText = (o: ActivationOutcome, verb: 'init' | 'start'): string => outcomeTextOf(shownDeep(o), verb);

const outcomeTextOf = (o: ActivationOutcome, verb: 'init' | 'start'): string => {
  const lines: string[] = [];
  for (const type of o.recorded) {
    const step = STEP_OF[type];
    lines.push(step !== undefined ? `  step ${step}/5  ${INIT_STEPS[step - 1]}  (${type} recorded)` : `  ${type} recorded`);
  }
  if (o.recorded.length === 0 && o.state === 'activated')
    lines.push(verb === 'init' ? '  nothing to do: every step is already recorded' : '  start check passed; nothing new to record');
  const remedy = outcomeRemedy(o);
  if (o.state === 'activated') lines.push(`activated: installation ${o.installationId}, symmetric key version ${o.keyVersion}, thumbprint ${o.thumbprint}`);
  else if (o.state === 'disabled' && o.reason && remedy) lines.push(refusalLine(o.reason, remedy));
  else if (remedy) {
    const steps = o.completedSteps ?? 0;
    const what =
      o.state === 'initializing'
        ? `initialization of installation ${o.installationId} is incomplete: ${steps} of 5 steps recorded${steps > 0 ? ` (last: ${INIT_STEPS[steps - 1]})` : ''}`
        : 'waiting to join: steps 1-3 are done; an activated member must wrap the key for it';
    lines.push(`${NOT_ACTIVATED}: ${what}. Remedy: ${remedyText(remedy)}.`);
  }
  return `${lines.join('\n')}\n`;
};

const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));

/** The membership table: stored text in the rows escaped and bounded; the view is only looked up (by validated IDs), never printed. */
export const listText = (rows: ReadonlyArray<InstanceStatus>, v: ActivationView): string => listTextOf(shownDeep(rows), v);

const listTextOf = (rows: ReadonlyArray<InstanceStatus>, v: ActivationView): string => {
  if (rows.length === 0) return 'no instances recorded yet (run keyledger init)\n';
  const table = rows.map((s) => {
    if (s.state === 'not-initialized') return [s.installationId, '', '', s.state, '', ''];
    const m = membershipOf(s, v);
    return [
      s.view.installationId,
      s.view.machineName ?? '',
      s.view.instanceName ?? '',
      s.state === 'disabled' ? `disabled (${s.reason._tag})` : m.membership,
      m.heldKeyVersion === null ? '' : String(m.heldKeyVersion),
      (s.view.signingThumbprint ?? s.view.thumbprint) ? `${(s.view.signingThumbprint ?? s.view.thumbprint ?? '').slice(0, 12)}…` : '',
    ];
  });
  const header = ['INSTALLATION ID', 'MACHINE', 'INSTANCE', 'STATE', 'KEY', 'THUMBPRINT'];
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  // Deployment-wide findings, warned under the table: a removed member that held the current key version (until the key is
  // re-created), a deletion of the encrypted content that was not finished.
  const warnings = shownDeep(allFindings(v).filter((f) => f.kind === 'RemovedMemberHoldsKey' || f.kind === 'ContentDeletionUnfinished')).map(
    (f) => `warning: ${f.summary}. Remedy: ${remedyText(f.remedy)}.\n`,
  );
  return `${[header, ...table]
    .map((r) =>
      r
        .map((c, i) => pad(c, widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n${warnings.join('')}`;
};

/**
 * How a diagnosis looks to a person (text: every stored value escaped and bounded first) and to a script (--json).
 */
import type { DiagnoseResult, LedgerProblem } from '../commands/diagnose';
import { INIT_STEP_NAMES } from '../domain/event-classes';
import { remedyText } from '../domain/remedy';
import { describeSignatureProblem } from '../domain/signature-audit';
import { shownDeep } from '../domain/text';
import type { EventRef } from '../projections/activation';
import type { Diagnosis, Evidence, SignatureEvidence, StepState } from '../projections/diagnosis';
import { describeAt, type TimelineRef } from '../projections/timeline';
import { notActivatedLine, remedyJson, statusJson } from './render';

const where = (r: EventRef): string => `${r.stream}@${r.revision}, position ${r.position}`;
const when = (r: TimelineRef): string => `${r.occurredAt}  by ${r.actor}  correlation ${r.correlationId}  (${r.command}, ${where(r)})`;
const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));

/** One line: where the instance stands (activated, or where it stopped and why), or what is wrong with the ledger. */
export const diagnoseMessage = (r: DiagnoseResult): string => {
  if (r.ledger) return ledgerLine(r.ledger);
  const d = r.diagnosis;
  const line = notActivatedLine(d.status);
  if (line === undefined)
    return `activated: installation ${d.installationId}${d.status.state === 'activated' ? `, symmetric key version ${d.status.keyVersion}` : ''}`;
  return d.stop ? `${stopLine(d)}. ${line}` : line;
};

const stopLine = (d: Diagnosis): string =>
  d.stop ? `stopped at step ${d.stop.step}/5 (${INIT_STEP_NAMES[d.stop.step]}): ${d.stop.mark}` : 'activated: nothing stopped';

const ledgerLine = (p: LedgerProblem): string => {
  switch (p._tag) {
    case 'LedgerRolledBack':
      return (
        `the ledger was rolled back: ${p.stream} was at revision ${p.remembered.revision} (hash ${p.remembered.hash}) when this instance last relied on it, ` +
        `but ${p.found.revision === 'no_stream' ? 'has no events any more' : `now ends at revision ${p.found.revision}`}` +
        `${p.found.hashAtRemembered === null ? '' : ` and holds another event at ${p.remembered.revision} (hash ${p.found.hashAtRemembered})`}`
      );
    case 'LedgerReplaced':
      return `the store ${p.endpoint} is not the ledger this instance belongs to (ledger ${p.found}, not ${p.remembered})`;
    case 'CorruptEvent':
      return `the ledger holds an invalid event at ${p.stream}@${p.revision} (${p.eventType}): ${p.problem}`;
  }
};

const ledgerJson = (p: LedgerProblem): Record<string, unknown> =>
  p._tag === 'CorruptEvent' ? { ...p, revision: p.revision.toString(), tampered: p.tampered === true } : { ...p };

export const diagnoseJson = (r: DiagnoseResult): Record<string, unknown> => {
  const d = r.diagnosis;
  const remedy = r.ledgerRemedy ?? d.remedy;
  return {
    installationId: d.installationId,
    deploymentId: d.deploymentId,
    at: d.at === null ? null : describeAt(d.at),
    events: d.events,
    state: d.status.state,
    activated: r.ledger === null && d.status.state === 'activated',
    message: diagnoseMessage(r),
    ledger: r.ledger ? ledgerJson(r.ledger) : null,
    stop: d.stop,
    steps: d.steps,
    timeline: d.timeline,
    evidence: d.evidence,
    signatures: d.signatures,
    remedy: remedy ? remedyJson(remedy) : null,
    findings: statusJson(d.status, d.findings)['findings'],
    /** Exactly what `keyledger status --json` says (would have said, at the point). */
    status: statusJson(d.status, d.findings),
  };
};

const stepLine = (s: StepState): string =>
  `  step ${s.step}/5  ${pad(s.name, 30)}${pad(s.mark === 'failed' ? 'FAILED' : s.mark, 8)}` +
  `${s.at ? when(s.at) : ''}${s.note ? `${s.at ? '  — ' : '— '}${s.note}` : ''}`.trimEnd();

const same = (a: string | number | null, b: string | number | null): string => (a === null || b === null ? '' : a === b ? '  (same)' : '  (DIFFERS)');
const v = (x: string | number | null): string => (x === null ? '?' : String(x));

const evidenceLines = (e: Evidence): string[] => [
  `  installation ID   presented ${e.installationId.presented}   stored ${v(e.installationId.stored)}   keystore ${v(e.installationId.keystore)}` +
    same(e.installationId.presented, e.installationId.keystore),
  `  thumbprint        presented ${v(e.thumbprint.presented)}   stored ${v(e.thumbprint.stored)}   recorded ${v(e.thumbprint.recorded)}` +
    same(e.thumbprint.presented, e.thumbprint.stored ?? e.thumbprint.recorded),
  `  key version       held ${v(e.keyVersion.held)}   current ${v(e.keyVersion.current)}${same(e.keyVersion.held, e.keyVersion.current)}`,
  `  copy              ${e.copy ? `version ${e.copy.keyVersion} wrapped for ${e.copy.wrappedFor} (${where(e.copy.at)})` : 'none'}`,
  `  machine           presented ${v(e.machine.presented)}   stored ${v(e.machine.stored)}${same(e.machine.presented, e.machine.stored)}` +
    `${e.machine.host === null ? '' : `   host ${e.machine.host}`}${e.machine.keystorePath === null ? '' : `   keystore ${e.machine.keystorePath}`}`,
  `  service identity  presented ${v(e.serviceIdentity.presented)}   recorded ${v(e.serviceIdentity.recorded)}` +
    same(e.serviceIdentity.presented, e.serviceIdentity.recorded),
  ...(e.backups.length === 0
    ? ['  backups           none of the current key version recorded']
    : e.backups.map(
        (b, i) =>
          `  ${i === 0 ? 'backups         ' : '                '}  version ${b.keyVersion}: file fingerprint ${b.fingerprint} by ${b.by} (${where(b.at)})`,
      )),
  ...e.events.map((r, i) => `  ${i === 0 ? 'events          ' : '                '}  ${where(r)}  ${r.occurredAt}  by ${r.actor}`),
];

const signatureLines = (s: SignatureEvidence): string[] => [
  `  signatures        ${s.checked} events checked, ${s.verified} signatures verified, ${s.problems.length === 0 ? 'no problems' : `${s.problems.length} problem(s)`}`,
  `                    genesis ${s.genesis ? `${s.genesis.thumbprint} (installation ${s.genesis.installationId}, @${s.genesis.revision})` : 'none'}, ` +
    `${s.members} certified member(s) — as the ledger says: compare the genesis with the thumbprint its operators confirmed`,
  `                    copy: ${
    s.copy === null
      ? 'none'
      : s.copy.trusted
        ? `version ${s.copy.keyVersion}, wrapped and signed by certified member ${s.copy.by} (@${s.copy.revision})`
        : `version ${s.copy.keyVersion} (@${s.copy.revision}) NOT trusted: ${s.copy.problem}`
  }; key check${s.keyCheck ? ` of version ${s.keyCheck.keyVersion}: ${s.keyCheck.trusted ? 'signed by a certified member' : 'NOT signed by a certified member'}` : ': none'}`,
  ...s.problems.map((p) => `  UNTRUSTED         ${p.stream}@${p.revision} (${p.eventType}): ${p.problem}: ${describeSignatureProblem(p)}`),
];

export const diagnoseText = (r: DiagnoseResult): string => textOf(shownDeep(r, 500));

const textOf = (r: DiagnoseResult): string => {
  const d: Diagnosis = r.diagnosis;
  const view = d.status.state === 'not-initialized' ? null : d.status.view;
  const lines = [
    `diagnosis of installation ${d.installationId}${view ? ` (${view.instanceName ?? '?'} on ${view.machineName ?? '?'})` : ''}, deployment ${d.deploymentId ?? '?'}`,
    ...(d.at
      ? [`as of ${describeAt(d.at)} (the ledger as it was then: ${d.events} events of its two streams)`]
      : [`${d.events} events of its two streams read`]),
    '',
    'initialization',
    ...d.steps.map(stepLine),
    '',
    `timeline (${d.timeline.length} key events)`,
    ...d.timeline.flatMap((t) => [
      `  ${t.at.occurredAt}  ${pad(t.mark === 'failed' ? 'FAILED' : 'done', 7)}${t.step === null ? '            ' : `step ${t.step}/5    `}${t.type}: ${t.summary}`,
      `  ${' '.repeat(24)}  by ${t.at.actor}  correlation ${t.at.correlationId}  (${t.at.command}, ${where(t.at)})`,
    ]),
    '',
    r.ledger ? `where it stopped  the ledger itself: ${ledgerLine(r.ledger)}` : `where it stopped  ${stopLine(d)}`,
    ...(d.stop?.at ? [`                  shown by ${where(d.stop.at)}, ${d.stop.at.occurredAt}, by ${d.stop.at.actor}`] : []),
    `${r.ledger ? 'the ledger shows  (not to be relied on) ' : 'status says       '}${notActivatedLine(d.status) ?? diagnoseMessage({ ...r, ledger: null })}`,
    '',
    'evidence',
    ...evidenceLines(d.evidence),
    ...(d.signatures ? signatureLines(d.signatures) : []),
  ];
  if (r.ledgerRemedy) lines.push('', `remedy            ${remedyText(r.ledgerRemedy)}`);
  for (const f of d.findings) lines.push('', `finding           ${f.kind}: ${f.summary}`, `remedy            ${remedyText(f.remedy)}`);
  return `${lines.join('\n')}\n`;
};

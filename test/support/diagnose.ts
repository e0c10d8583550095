/**
 * Reading `keyledger --json diagnose` back in tests, and following its remedy: the typed steps, each checked to be
 * printed word for word in the text output, run on the node each names.
 */
import type { ExecutionContext } from 'ava';
import { type InstallationId, instanceStream } from '../../src/domain/ids';
import type { InProcResult } from './cli-inproc';
import type { TestNode } from './nodes';

export interface Ref {
  stream: string;
  revision: string;
  position: string;
  occurredAt: string;
  actor: string;
  command?: string;
  correlationId?: string;
}
export interface RemedyJson {
  kind: 'Run' | 'NotYetPossible';
  sentence: string;
  text: string;
  steps: Array<{ on: 'this-instance' | 'a-member' | 'the-other-machine'; args: Array<string | { placeholder: string }>; command: string }>;
}
export interface DiagnoseJson {
  installationId: string;
  deploymentId: string | null;
  at: string | null;
  state: string;
  activated: boolean;
  message: string;
  ledger: { _tag: string; stream?: string; revision?: string; tampered?: boolean; found?: { revision: string } } | null;
  stop: { step: number; mark: string; at: Ref | null } | null;
  steps: Array<{ step: number; name: string; mark: string; at: Ref | null; note: string | null }>;
  timeline: Array<{ at: Ref; type: string; mark: string; step: number | null; keyVersion: number | null; summary: string }>;
  evidence: {
    installationId: { presented: string; stored: string | null; keystore: string | null };
    thumbprint: { presented: string | null; stored: string | null; recorded: string | null };
    keyVersion: { held: number | null; current: number | null };
    copy: { keyVersion: number; wrappedFor: string; at: Ref } | null;
    machine: { presented: string | null; stored: string | null; host: string | null; keystorePath: string | null };
    serviceIdentity: { presented: string | null; recorded: string | null };
    backups: Array<{ keyVersion: number; fingerprint: string; by: string; at: Ref }>;
    events: Ref[];
  };
  signatures: {
    checked: number;
    verified: number;
    problems: Array<{ stream: string; revision: string; problem: string }>;
    genesis: { installationId: string; thumbprint: string } | null;
    members: number;
    copy: { trusted: boolean; keyVersion: number; by: string | null; problem: string | null } | null;
    keyCheck: { keyVersion: number; trusted: boolean } | null;
  } | null;
  remedy: RemedyJson | null;
  findings: Array<{ kind: string; evidence: Record<string, unknown>; remedy: RemedyJson }>;
  status: { state: string; message?: string; reason?: { _tag: string } };
}

/** `diagnose --json` on a node; `text()` runs the same diagnose for its human output. */
export const diagnoseOf = async (n: TestNode, ...args: string[]): Promise<{ code: number; d: DiagnoseJson; text: () => Promise<string> }> => {
  const r = await n.run('--json', 'diagnose', ...args);
  if (r.stdout === '') throw new Error(`diagnose printed nothing (exit ${r.code}): ${r.stderr}`);
  return { code: r.code, d: r.json<DiagnoseJson>(), text: async () => (await n.run('diagnose', ...args)).stdout };
};

/** The initialization step each refusal reason is about (1 the config, 2 the key pair, 3 the registration, 4 the copy). */
export const REFUSAL_STEP: Readonly<Record<string, number>> = {
  ConfigurationChanged: 1,
  KeystoreUnavailable: 2,
  KeystoreBelongsToOtherInstallation: 2,
  ServiceIdentityChanged: 2,
  InstallationNotRegistered: 3,
  InstanceRemoved: 3,
  NoSymmetricKey: 4,
  NoWrappedCopy: 4,
  WrappedCopyForOtherKey: 4,
  UnwrapFailed: 4,
  KeyCheckMismatch: 4,
  StaleWrappedCopy: 4,
  NoMemberHoldsKey: 4,
  KeyNotThePinnedKey: 4,
  DeploymentNotSigned: 4,
  GenesisNotPinned: 4,
  UntrustedKeyEvent: 4,
};

interface Refused {
  readonly reason?: { readonly _tag: string; readonly storedIn?: string };
}

/**
 * What diagnose says on an instance whose start was just refused: exactly what `status` says (its JSON, its exit
 * code, its remedy), the refusal last on the timeline, marked failed; and where it stopped — for a disabled instance
 * the step its reason is about, failed at the refusal (step 5 too); a removed one at its registration (step 3), a
 * waiting one at its copy (step 4, missing); none when the refusal was another machine's (status: activated, a finding).
 */
export const expectDiagnosed = async (t: ExecutionContext, n: TestNode, start: Refused): Promise<void> => {
  const r = await n.run('--json', 'diagnose');
  const status = await n.run('--json', 'status');
  t.is(r.code, status.code, r.stdout + r.stderr);
  const d = r.json<DiagnoseJson>();
  t.deepEqual(d.status, status.json(), 'what status says, exactly');
  const s = status.json<{ state: string; remedy?: RemedyJson }>();
  t.deepEqual(commandsOf(d.remedy), commandsOf(s.remedy ?? null));
  t.is(d.remedy?.sentence, s.remedy?.sentence);
  const tag = start.reason?._tag ?? '?';
  t.like(d.timeline.at(-1), { type: 'InstanceActivationRefused', mark: 'failed', at: { stream: instanceStream(n.id as InstallationId) } });
  const refusal = d.timeline.at(-1)?.at;
  switch (s.state) {
    case 'disabled': {
      const step = tag === 'PublicKeyMismatch' ? (start.reason?.storedIn === 'instance' ? 2 : 3) : REFUSAL_STEP[tag];
      t.is(d.status.reason?._tag, tag);
      t.deepEqual(d.stop, { step, mark: 'failed', at: refusal });
      t.is(d.steps[(step ?? 1) - 1]?.mark, 'failed');
      t.is(d.steps[4]?.mark, 'failed');
      break;
    }
    case 'removed':
      t.like(d.stop, { step: 3, mark: 'failed' });
      t.regex(d.stop?.at?.stream ?? '', /^keyledger\.deployment-/, 'the removal shows it');
      break;
    case 'waiting-to-join':
      t.deepEqual(d.stop, { step: 4, mark: 'missing', at: null });
      break;
    default:
      t.is(s.state, 'activated', `${tag}: ${d.message}`);
      t.is(d.stop, null);
      t.true(d.findings.length > 0, "another machine's refusal: a finding");
  }
};

/** diagnose names a finding with the remedy status gives for it. */
export const expectFindingDiagnosed = async (t: ExecutionContext, n: TestNode, kind: string, remedy: RemedyJson): Promise<void> => {
  const d = (await n.run('--json', 'diagnose')).json<DiagnoseJson>();
  const f = d.findings.find((x) => x.kind === kind);
  t.deepEqual(commandsOf(f?.remedy ?? null), commandsOf(remedy), `diagnose names ${kind} with its remedy`);
};

export const commandsOf = (r: RemedyJson | null): string[] => r?.steps.map((s) => s.command) ?? [];

/** The marks of the five steps, in order. */
export const marks = (d: DiagnoseJson): string[] => d.steps.map((s) => s.mark);

/** Runs each step of a remedy on the node it names (each printed word for word in the text output), with values for its placeholders. */
export const followRemedy = async (
  t: ExecutionContext,
  remedy: RemedyJson | null,
  printed: string,
  nodes: { readonly self: TestNode; readonly member?: TestNode },
  values: Readonly<Record<string, string>> = {},
): Promise<void> => {
  if (!remedy) throw new Error('no remedy printed');
  t.is(remedy.kind, 'Run', remedy.text);
  for (const step of remedy.steps) {
    const shown = step.command.replace('<new-thumbprint>', '<its thumbprint>').replace('<backup-file>', '<the key backup file>');
    t.true(printed.includes(`\`${shown}\``), `printed: ${shown}\n${printed}`);
    const node = step.on === 'this-instance' ? nodes.self : nodes.member;
    if (!node) throw new Error(`no node for ${step.on}`);
    const args = step.args.map((a) => {
      if (typeof a === 'string') return a;
      const v = values[a.placeholder];
      if (v === undefined) throw new Error(`no value for ${a.placeholder}`);
      return v;
    });
    const r: InProcResult = await node.run(...args);
    t.true(r.code === 0 || r.code === 1, `keyledger ${args.join(' ')} → ${r.code}: ${r.stdout}${r.stderr}`);
  }
};

/**
 * Reading `keyledger --json diagnose` back in tests, and following its remedy: the typed steps, each checked to be
 * printed word for word in the text output, run on the node each names.
 */
import type { ExecutionContext } from 'ava';
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

export const diagnoseOf = async (n: TestNode, ...args: string[]): Promise<{ code: number; d: DiagnoseJson; text: InProcResult }> => {
  const r = await n.run('--json', 'diagnose', ...args);
  if (r.stdout === '') throw new Error(`diagnose printed nothing (exit ${r.code}): ${r.stderr}`);
  return { code: r.code, d: r.json<DiagnoseJson>(), text: await n.run('diagnose', ...args) };
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

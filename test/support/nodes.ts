/**
 * Instances for scale-out tests: each with its own config file and keystore,
 * all sharing one ledger file — driven through the CLI in process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StoredEvent } from '../../src/domain/envelope';
import { type DeploymentId, deploymentStream, type InstallationId, instanceStream } from '../../src/domain/ids';
import { cli, type InProcResult } from './cli-inproc';
import { openTestStore } from './fixtures';
import { eventsOf } from './ledger-reader';

export interface TestNode {
  readonly name: string;
  readonly dir: string;
  readonly file: string;
  readonly id: InstallationId;
  readonly keystore: string;
  readonly run: (...args: string[]) => Promise<InProcResult>;
}

export const newNode = async (dir: string, name: string, extra: string[] = []): Promise<TestNode> => {
  const file = path.join(dir, `${name}.json`);
  const r = await cli('-c', file, 'config', 'new', '--instance', name, '--machine', `RS-${name}`, ...extra);
  if (r.code !== 0) throw new Error(r.stderr);
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as { installationId: InstallationId; keystore: string };
  return { name, dir, file, id: cfg.installationId, keystore: path.resolve(dir, cfg.keystore), run: (...args) => cli('-c', file, ...args) };
};

/** The thumbprint of the signing key in a config's keystore (what `keyledger status` prints there): what a join confirms. */
export const keystoreThumbprint = (configFile: string): string => {
  const cfg = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { keystore: string };
  const keystore = path.resolve(path.dirname(configFile), cfg.keystore);
  const header = JSON.parse(fs.readFileSync(keystore, 'utf8')) as { thumbprint: string; signingThumbprint?: string };
  return header.signingThumbprint ?? header.thumbprint;
};

/** The RFC 7638 thumbprint of the RSA key pair in a config's keystore (what copies are wrapped for). */
export const keystoreKeyThumbprint = (configFile: string): string => {
  const cfg = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { keystore: string };
  return (JSON.parse(fs.readFileSync(path.resolve(path.dirname(configFile), cfg.keystore), 'utf8')) as { thumbprint: string }).thumbprint;
};

/** `join <id> --expect-thumbprint <its key>`: the arguments of a join the operator confirmed. */
export const joinArgs = (n: TestNode): string[] => ['join', n.id, '--expect-thumbprint', keystoreThumbprint(n.file)];

export const editConfig = (n: TestNode, patch: Record<string, unknown>): void => {
  const cfg = JSON.parse(fs.readFileSync(n.file, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(n.file, JSON.stringify({ ...cfg, ...patch }, null, 2));
};

export const ledgerFile = (dir: string): string => path.join(dir, '.keyledger', 'ledger.db');

export const withLedger = async <A>(dir: string, f: (read: (stream: string) => Promise<StoredEvent[]>) => Promise<A>): Promise<A> => {
  const store = openTestStore(ledgerFile(dir));
  try {
    return await f((stream) => eventsOf(store, stream));
  } finally {
    await store.close();
  }
};

export const deploymentEvents = (dir: string): Promise<StoredEvent[]> => withLedger(dir, (read) => read(deploymentStream('default' as DeploymentId)));
export const instanceEvents = (dir: string, id: InstallationId): Promise<StoredEvent[]> => withLedger(dir, (read) => read(instanceStream(id)));

/** A deployment of `n` activated members: the first initialized, the others joined by it. */
export const activatedDeployment = async (dir: string, names: ReadonlyArray<string>): Promise<TestNode[]> => {
  const nodes: TestNode[] = [];
  for (const name of names) nodes.push(await newNode(dir, name));
  const [first, ...rest] = nodes;
  if (!first) return nodes;
  const init = await first.run('init');
  if (init.code !== 0) throw new Error(init.stdout + init.stderr);
  for (const n of rest) {
    const waiting = await n.run('init');
    if (waiting.code !== 1) throw new Error(waiting.stdout + waiting.stderr);
    const join = await first.run(...joinArgs(n));
    if (join.code !== 0) throw new Error(join.stderr);
    const start = await n.run('start');
    if (start.code !== 0) throw new Error(start.stdout + start.stderr);
  }
  return nodes;
};

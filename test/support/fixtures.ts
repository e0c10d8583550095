/**
 * Test data builders and wiring: temp dirs, configs, deterministic clocks and ids.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import type { InstanceDeps } from '../../src/commands/instance';
import type { CommandContext } from '../../src/domain/envelope';
import type { DeploymentId, InstallationId, NonEmptyString } from '../../src/domain/ids';
import type { InstanceConfig } from '../../src/domain/instance/decider';
import { fileKeystore } from '../../src/infra/file-keystore';
import { openSqliteStore } from '../../src/infra/sqlite-store';
import { sha256Hex } from '../../src/infra/sha256';
import { pooledCrypto } from './pooled-crypto';
import type { EventStore } from '../../src/ports/event-store';

export const tempDir = (label = 'kl'): string => fs.mkdtempSync(path.join(os.tmpdir(), `${label}-`));

export const newInstallationId = (): InstallationId => randomUUID() as InstallationId;

export const aConfig = (dir: string, overrides: Partial<InstanceConfig> = {}): InstanceConfig => {
  const installationId = overrides.installationId ?? newInstallationId();
  return {
    installationId,
    deploymentId: 'default' as DeploymentId,
    machineName: 'RS-NODE-1' as NonEmptyString,
    instanceName: 'MSSQLSERVER' as NonEmptyString,
    serviceIdentity: 'NT SERVICE\\ReportServer' as NonEmptyString,
    store: { kind: 'sqlite', location: path.join(dir, 'ledger.db') },
    keystorePath: path.join(dir, `keystore-${installationId.slice(0, 8)}`, 'instance.keystore.json'),
    ...overrides,
  };
};

/** A clock that advances one second per call, from a fixed instant. */
export const steppingClock = (start = Date.parse('2026-11-28T12:00:00Z')): (() => Date) => {
  let n = 0;
  return () => new Date(start + 1000 * n++);
};

export const aContext = (command = 'init', overrides: Partial<CommandContext> = {}): CommandContext => ({
  actor: 'operator@test',
  command,
  correlationId: randomUUID(),
  causationId: randomUUID(),
  now: steppingClock(),
  newId: randomUUID,
  ...overrides,
});

export const openTestStore = (file: string): EventStore => {
  const r = openSqliteStore(file, { pollIntervalMs: 20 });
  if (E.isLeft(r)) throw new Error(`cannot open test store: ${JSON.stringify(r.left)}`);
  return r.right;
};

export const depsFor = (store: EventStore, config: InstanceConfig, command = 'init', extra: Partial<InstanceDeps> = {}): InstanceDeps => ({
  store,
  crypto: pooledCrypto(),
  keystore: fileKeystore(config.keystorePath),
  ctx: aContext(command),
  digest: sha256Hex,
  host: 'test-host',
  ...extra,
});

/** Unwraps a Right or fails the test with the Left, pretty-printed. */
export const rightOf = <L, A>(r: E.Either<L, A>): A => {
  if (E.isLeft(r)) throw new Error(`expected Right, got Left: ${JSON.stringify(r.left, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`);
  return r.right;
};

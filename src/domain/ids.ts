/**
 * Branded identifiers, each decoded at the edge (config, CLI, stored events).
 */
import * as t from 'io-ts';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const THUMBPRINT = /^[A-Za-z0-9_-]{43}$/; // RFC 7638 SHA-256, base64url without padding
const SLUG = /^[a-z0-9][a-z0-9._-]{0,62}$/i;

export interface InstallationIdBrand {
  readonly InstallationId: unique symbol;
}
/** The instance's installation ID (a GUID, from its config file — SSRS `InstallationID`). */
export const InstallationId = t.brand(t.string, (s): s is t.Branded<string, InstallationIdBrand> => GUID.test(s), 'InstallationId');
export type InstallationId = t.TypeOf<typeof InstallationId>;

export interface ThumbprintBrand {
  readonly Thumbprint: unique symbol;
}
/** RFC 7638 JWK thumbprint (SHA-256, base64url). */
export const Thumbprint = t.brand(t.string, (s): s is t.Branded<string, ThumbprintBrand> => THUMBPRINT.test(s), 'Thumbprint');
export type Thumbprint = t.TypeOf<typeof Thumbprint>;

export interface KeyVersionBrand {
  readonly KeyVersion: unique symbol;
}
/** Version of the deployment's symmetric key: 1, 2, … (a re-created key gets the next one). */
export const KeyVersion = t.brand(t.Int, (n): n is t.Branded<t.Int, KeyVersionBrand> => n >= 1, 'KeyVersion');
export type KeyVersion = t.TypeOf<typeof KeyVersion>;

export interface DeploymentIdBrand {
  readonly DeploymentId: unique symbol;
}
/** Names a deployment (SSRS: the report server database a scale-out shares). */
export const DeploymentId = t.brand(t.string, (s): s is t.Branded<string, DeploymentIdBrand> => SLUG.test(s), 'DeploymentId');
export type DeploymentId = t.TypeOf<typeof DeploymentId>;

export interface NonEmptyBrand {
  readonly NonEmpty: unique symbol;
}
export const NonEmptyString = t.brand(t.string, (s): s is t.Branded<string, NonEmptyBrand> => s.trim().length > 0 && s.length <= 256, 'NonEmpty');
export type NonEmptyString = t.TypeOf<typeof NonEmptyString>;

export interface IsoDateBrand {
  readonly IsoDate: unique symbol;
}
export const IsoDate = t.brand(
  t.string,
  (s): s is t.Branded<string, IsoDateBrand> => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(s) && !Number.isNaN(Date.parse(s)),
  'IsoDate',
);
export type IsoDate = t.TypeOf<typeof IsoDate>;

/**
 * Stream names: the consistency boundaries (see docs/adr/0001-stream-design.md).
 * The part before the first '-' is the category, so EventStoreDB's `$ce-keyledger.instance`
 * and `$ce-keyledger.deployment` system projections work as expected.
 */
export const instanceStream = (id: InstallationId): string => `keyledger.instance-${id.toLowerCase()}`;
export const deploymentStream = (id: DeploymentId): string => `keyledger.deployment-${id}`;
/** A deployment's encrypted-content events (which secret changed, by whom, under which key version): apart from its key decisions. */
export const contentStream = (id: DeploymentId): string => `keyledger.content-${id}`;
export const LEDGER_PREFIX = 'keyledger.';

/**
 * `keyledger trust`: the deployment's root of trust (docs/adr/0010-signed-key-events.md).
 *
 * --declare-genesis, on a member that holds the current key: it becomes the
 *   deployment's genesis — for a deployment created before signed key events,
 *   or when no certified member remains (after a key restore). It proves it
 *   holds the key by unwrapping its own copy, records `GenesisDeclared` signed
 *   by its signing key (vouching for that key version's key check), and pins
 *   itself. Refused while certified members remain.
 * --expect-genesis T, on every other instance: the operator confirmed T with
 *   the operator who declared it, out of band. The ledger's genesis must be T;
 *   the instance pins it inside its keystore and records `GenesisAccepted`.
 *   Nothing is pinned for any other thumbprint: a forged re-genesis stops here.
 * Both give a keystore from before signatures its signing key first, and
 * register it in the deployment (`SigningKeyRegistered`, with its proof of
 * possession) — after which a member wraps the key for it again, certifying it
 * (`join <id> --expect-thumbprint <its signing thumbprint> --rewrap`).
 */
import * as E from 'fp-ts/Either';
import { currentCopyOf, decideDeployment } from '../domain/deployment/decider';
import type { LedgerEvent } from '../domain/events';
import type { InstallationId, Thumbprint } from '../domain/ids';
import { decideInstance, type InstanceConfig } from '../domain/instance/decider';
import { explainRefusal } from '../domain/refusal';
import type { KeystoreError, StoredKeyPair } from '../ports/crypto';
import { type Decision, handleCommand, type LoadedAll } from './handler';
import { type CommandError, type InstanceDeps, isKeystoreError, type MemberAggregates, memberAggregates, unwrapOwnCopy } from './instance';
import { pinnedGenesisOf, registrationOf, signerOf, trustIn } from './signing';

export type TrustError =
  | CommandError
  | { readonly _tag: 'NotAMemberYet'; readonly installationId: string }
  | { readonly _tag: 'CannotProveKey'; readonly installationId: string; readonly detail: string }
  /** A genesis is declared only for a ledger from before signatures, or when no certified member remains. */
  | { readonly _tag: 'GenesisStands'; readonly genesis: string; readonly members: number }
  /** The ledger shows no genesis to accept (none declared yet, or its events do not verify). */
  | { readonly _tag: 'NoGenesisToAccept'; readonly expected: string }
  /** The operator's thumbprint is not the ledger's genesis: nothing is pinned. */
  | { readonly _tag: 'GenesisNotExpected'; readonly expected: string; readonly ledger: string };

export interface TrustOutcome {
  readonly installationId: InstallationId;
  readonly deploymentId: string;
  readonly genesis: string;
  /** This instance's signing-key thumbprint: what a join of it confirms. */
  readonly signingThumbprint: string;
  /** Whether this instance's copy of the current key is certified back to the genesis (if not: a member runs join --rewrap for it). */
  readonly certified: boolean;
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
}

type Step = { readonly _tag: 'Continue' } | { readonly _tag: 'Done'; readonly genesis: string };

/** The keystore, with a signing key added if it predates signatures. */
const keysWithSigning = async (deps: InstanceDeps, config: InstanceConfig): Promise<E.Either<KeystoreError, StoredKeyPair>> => {
  const binding = { installationId: config.installationId, serviceIdentity: config.serviceIdentity };
  const held = await deps.keystore.load(binding)();
  if (E.isLeft(held) || held.right.signing) return held;
  return deps.keystore.update(binding, { signing: deps.crypto.signing.generate() })();
};

const run = async (
  deps: InstanceDeps,
  config: InstanceConfig,
  decideFinal: (l: LoadedAll<MemberAggregates>, held: StoredKeyPair) => Promise<E.Either<TrustError, Decision<MemberAggregates, Step>>>,
): Promise<E.Either<TrustError, TrustOutcome>> => {
  const id = config.installationId;
  const keys = await keysWithSigning(deps, config);
  if (E.isLeft(keys)) return keys;
  const held = keys.right;
  const signer = signerOf(deps.crypto, held);
  const recorded: Array<LedgerEvent['type']> = [];
  let loaded: LoadedAll<MemberAggregates> | undefined;
  for (let i = 0; i < 4; i++) {
    const r = await handleCommand(
      deps,
      memberAggregates(config),
      async (l): Promise<E.Either<TrustError, Decision<MemberAggregates, Step>>> => {
        const registered = l.deployment.state.registered[id];
        if (!registered) return E.left({ _tag: 'NotAMemberYet', installationId: id });
        if (!registered.signing && held.signing) {
          // The signing key, registered with its proof of possession (once; later changes go through change-identity).
          const decided = decideDeployment(
            {
              type: 'RegisterSigningKey',
              deploymentId: config.deploymentId,
              installationId: id,
              signing: registrationOf(deps.crypto, id, registered.thumbprint, held.signing),
            },
            l.deployment.state,
          );
          if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused', error: decided.left });
          return E.right({ append: { to: 'deployment', events: decided.right, signer }, result: { _tag: 'Continue' } });
        }
        return decideFinal(l, held);
      },
      loaded,
    );
    if (E.isLeft(r)) return r;
    recorded.push(...r.right.appended);
    loaded = r.right.loaded;
    if (r.right.result._tag === 'Continue') continue;
    const genesis = r.right.result.genesis;
    const pinned = await deps.keystore.update(
      { installationId: id, serviceIdentity: config.serviceIdentity },
      { genesis: { deploymentId: config.deploymentId, thumbprint: genesis as Thumbprint } },
    )();
    if (E.isLeft(pinned)) return pinned;
    const trust = trustIn(deps.crypto, loaded.deployment.events, deps.remembered);
    const copy = trust.copies[id.toLowerCase()];
    const current = loaded.deployment.state.currentKey;
    return E.right({
      installationId: id,
      deploymentId: config.deploymentId,
      genesis,
      signingThumbprint: held.signing?.thumbprint ?? '',
      certified: copy?.trusted === true && current !== undefined && copy.keyVersion === current.keyVersion,
      recorded,
    });
  }
  throw new Error('programmer error: trust did not converge');
};

/** This member becomes the deployment's root of trust (a ledger from before signatures, or no certified member left). */
export const declareGenesis = (deps: InstanceDeps, config: InstanceConfig): Promise<E.Either<TrustError, TrustOutcome>> =>
  run(deps, config, async (l, held) => {
    const id = config.installationId;
    const own = held.signing?.thumbprint as Thumbprint;
    const trust = trustIn(deps.crypto, l.deployment.events, deps.remembered);
    if (trust.genesis?.thumbprint === own && trust.members[id.toLowerCase()]) return E.right({ result: { _tag: 'Done', genesis: own } });
    const members = Object.keys(trust.members).length;
    if (trust.genesis && members > 0) return E.left({ _tag: 'GenesisStands', genesis: trust.genesis.thumbprint, members });
    // It vouches for the key it holds: proved by unwrapping its own copy (and against its pin, if it held the key before).
    const state = l.deployment.state;
    const copy = currentCopyOf(state, id);
    if (!copy || !state.currentKey) return E.left({ _tag: 'CannotProveKey', installationId: id, detail: 'it holds no copy of the current key version' });
    const plan = { keyVersion: copy.keyVersion, copy, expectedKeyCheck: state.currentKey.keyCheck, thumbprint: held.thumbprint };
    const proven = await unwrapOwnCopy(deps.crypto, plan, held.privateKey, { keystore: deps.keystore, deploymentId: config.deploymentId });
    if (E.isLeft(proven))
      return isKeystoreError(proven.left)
        ? E.left(proven.left)
        : E.left({ _tag: 'CannotProveKey', installationId: id, detail: explainRefusal(proven.left).summary });
    const decided = decideDeployment(
      {
        type: 'DeclareGenesis',
        deploymentId: config.deploymentId,
        installationId: id,
        signingThumbprint: own,
        previousGenesis: (trust.genesis?.thumbprint as Thumbprint | null) ?? null,
      },
      state,
    );
    if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused', error: decided.left });
    return E.right({ append: { to: 'deployment', events: decided.right, signer: signerOf(deps.crypto, held) }, result: { _tag: 'Done', genesis: own } });
  });

/** The operator confirmed the deployment's genesis out of band: pin it (only if the ledger's is that one) and record it. */
export const acceptGenesis = (deps: InstanceDeps, config: InstanceConfig, expected: string): Promise<E.Either<TrustError, TrustOutcome>> =>
  run(deps, config, async (l, held) => {
    const trust = trustIn(deps.crypto, l.deployment.events, deps.remembered);
    if (!trust.genesis) return E.left({ _tag: 'NoGenesisToAccept', expected });
    if (trust.genesis.thumbprint !== expected) return E.left({ _tag: 'GenesisNotExpected', expected, ledger: trust.genesis.thumbprint });
    const previous = pinnedGenesisOf(held, config.deploymentId) ?? null;
    const last = [...l.instance.events].reverse().find((e) => e.event.type === 'GenesisAccepted')?.event;
    const recordedAlready = last?.type === 'GenesisAccepted' && last.data.deploymentId === config.deploymentId && last.data.genesisThumbprint === expected;
    if (previous === expected || recordedAlready) return E.right({ result: { _tag: 'Done', genesis: expected } });
    const decided = decideInstance(
      {
        type: 'AcceptGenesis',
        installationId: config.installationId,
        deploymentId: config.deploymentId,
        genesisThumbprint: expected as Thumbprint,
        previousGenesis: previous,
      },
      l.instance.state,
    );
    if (E.isLeft(decided)) return E.left({ _tag: 'InstanceRefused', error: decided.left });
    return E.right({ append: { to: 'instance', events: decided.right, signer: signerOf(deps.crypto, held) }, result: { _tag: 'Done', genesis: expected } });
  });

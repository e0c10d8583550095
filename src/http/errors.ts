/**
 * A typed error as an HTTP answer: the same errors, the same one-line message (what, why, what to do) as the CLI's
 * (src/cli/errors.ts), and a status code from the same classes its exit codes come from. Never a stack trace, never
 * a token, never key material (the messages are the CLI's, which carry none).
 */
import { type CliError, describeError, EXIT, exitCodeOf } from '../cli/errors';

/** What a request that failed is answered with: the error's tag (stable, for scripts) and its one line. */
export interface ErrorBody {
  readonly error: string;
  readonly message: string;
}

/** Errors that say a named thing does not exist (404), beside the classes of exitCodeOf. */
const NOT_FOUND: ReadonlySet<CliError['_tag']> = new Set(['SecretMissing', 'EventNotFound', 'InstanceNotFound', 'NoInstanceNamed', 'NoCheckpointCovers']);

/**
 * 400 bad input; 404 a named thing that is not there; 409 refused by the ledger's rules, this instance not activated, or
 * the ledger altered (the request cannot be carried out in the state the ledger is in); 503 the store cannot be reached
 * or racing writers kept winning; 500 any other failure.
 */
export const httpStatusOf = (e: CliError): number => {
  if (NOT_FOUND.has(e._tag)) return 404;
  if (e._tag === 'StoreUnavailable' || e._tag === 'TooManyConflicts') return 503;
  switch (exitCodeOf(e)) {
    case EXIT.usage:
      return 400;
    case EXIT.notActivated:
    case EXIT.refused:
    case EXIT.tampered:
      return 409;
    default:
      return 500;
  }
};

export const errorBody = (e: CliError): ErrorBody => ({ error: e._tag, message: describeError(e) });

/**
 * What every CLI command is given: where to write, the environment, and the
 * global options commander parsed.
 */
import type { Crypto } from '../ports/crypto';

export interface Io {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly isTTY: boolean;
  /** Whether stdout is a terminal (`secret get` prints a value only there, or with --reveal). */
  readonly stdoutIsTTY?: boolean;
  /** All of stdin (a secret's value: never an argument). Absent: nothing to read. */
  readonly readStdin?: () => Promise<Buffer>;
  /**
   * Asks the operator a question on the terminal (absent when stdin is not a terminal: nothing is asked, nothing assumed).
   * `hidden`: the answer is not echoed (a backup password).
   */
  readonly prompt?: (question: string, options?: { readonly hidden?: boolean }) => Promise<string>;
  /** Adapters to use instead of the defaults (the composition root's one seam; tests pass a crypto with pre-generated keys). */
  readonly adapters?: { readonly crypto?: () => Crypto };
}

export interface GlobalOptions {
  readonly config: string;
  readonly store?: string;
  readonly actor?: string;
  readonly correlationId?: string;
  readonly json?: boolean;
  /** `--allow-insecure-store`: an EventStoreDB connection string with `tls=false` is accepted (with a warning). */
  readonly allowInsecureStore?: boolean;
}

/** A command module's view of the program: the io, the global options (read when the command runs) and how to set the exit code. */
export interface CommandScope {
  readonly io: Io;
  readonly globals: () => GlobalOptions;
  readonly done: (code: number) => void;
}

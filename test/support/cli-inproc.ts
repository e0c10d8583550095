/**
 * The CLI run in process (same code path as the binary, minus node startup):
 * captures stdout / stderr and the exit code. Pass absolute config paths
 * (ava's worker threads cannot chdir).
 */
import { runCli } from '../../src/cli/main';
import { pooledCrypto } from './pooled-crypto';

export interface InProcResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly json: <T = Record<string, unknown>>() => T;
}

export const cli = async (...args: string[]): Promise<InProcResult> => cliWithEnv({}, ...args);

/** The CLI with the real key generator (for tests of key generation or secret scans of fresh keys). */
export const cliRealCrypto = async (...args: string[]): Promise<InProcResult> => run({}, false, args);

/** The CLI with extra environment variables (KEYLEDGER_HOST, KEYLEDGER_PAUSE_AT / KEYLEDGER_PAUSE_FILE, …). */
export const cliWithEnv = async (env: Readonly<Record<string, string>>, ...args: string[]): Promise<InProcResult> => run(env, true, args);

/** The CLI on a terminal where the operator answers every prompt with `answer` (the questions are kept on stderr). */
export const cliAnswering = async (answer: string, ...args: string[]): Promise<InProcResult> => run({}, true, args, async () => answer);

/** The CLI with a value on stdin (`secret put`), stdout a terminal or not (`secret get`), and a terminal answering every prompt with `answer`. */
export const cliWith = async (
  options: { readonly stdin?: string | Buffer; readonly stdoutIsTTY?: boolean; readonly env?: Readonly<Record<string, string>>; readonly answer?: string },
  ...args: string[]
): Promise<InProcResult> => run(options.env ?? {}, true, args, options.answer !== undefined ? async () => options.answer as string : undefined, options);

const run = async (
  env: Readonly<Record<string, string>>,
  pooled: boolean,
  args: ReadonlyArray<string>,
  prompt?: (q: string) => Promise<string>,
  io: { readonly stdin?: string | Buffer; readonly stdoutIsTTY?: boolean } = {},
): Promise<InProcResult> => {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    env: { KEYLEDGER_ACTOR: 'operator@test', KEYLEDGER_HOST: 'test-host', ...env },
    isTTY: false,
    stdoutIsTTY: io.stdoutIsTTY === true,
    ...(io.stdin !== undefined ? { readStdin: async () => Buffer.from(io.stdin as string | Buffer) } : {}),
    ...(prompt ? { prompt } : {}),
    // RSA key generation is most of an init: tests that do not test it draw pre-generated real keys.
    ...(pooled ? { adapters: { crypto: () => pooledCrypto() } } : {}),
  });
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
};

/**
 * The operations log: one JSON line per command run, in `<stateDir>/keyledger.log`
 * (mode 0600, in a 0700 folder if it creates it). It records outcomes, event
 * types, ids and thumbprints — never key material: nothing that reaches it
 * holds any (handles redact themselves).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureDir, PRIVATE_DIR } from './file-modes';

export interface OpLog {
  write(entry: Record<string, unknown>): void;
}

export const fileOpLog = (stateDir: string, now: () => Date = () => new Date()): OpLog => ({
  write: (entry) => {
    try {
      ensureDir(stateDir, PRIVATE_DIR);
      const file = path.join(stateDir, 'keyledger.log');
      fs.appendFileSync(file, `${JSON.stringify({ at: now().toISOString(), ...entry }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`, {
        mode: 0o600,
      });
    } catch {
      // The log is a convenience: failing to write it never fails a key operation.
    }
  },
});

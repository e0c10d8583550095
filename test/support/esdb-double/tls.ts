/**
 * The double's TLS material, made at test time (no private key is committed): a throwaway CA and a server
 * certificate it signs for 127.0.0.1 / localhost, both EC P-256, valid two days, by Debian's `openssl` (the
 * haproxy e2e uses it too). Made once per module instance (an ava worker), in a fresh 0700 folder removed at exit.
 * A test fixture: never trust this CA anywhere else.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface DoubleTls {
  readonly dir: string;
  readonly caFile: string;
  readonly keyFile: string;
  readonly certFile: string;
}

let made: DoubleTls | undefined;

const openssl = (cwd: string, ...args: string[]): void => {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
};

export const doubleTls = (): DoubleTls => {
  if (made) return made;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-esdb-double-tls-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    dir,
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=keyledger test CA (esdb double)',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  openssl(dir, 'req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
  made = { dir, caFile: path.join(dir, 'ca.crt'), keyFile: path.join(dir, 'server.key'), certFile: path.join(dir, 'server.crt') };
  return made;
};

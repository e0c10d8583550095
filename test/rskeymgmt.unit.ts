/**
 * SSRS's rskeymgmt rules ("rskeymgmt Utility (SSRS)"), as `planRskeymgmt` applies them to parsed flags: one
 * operation per call, -f and -p required with -e and -a (-p not empty), -m with -j (-n defaulting to MSSQLSERVER),
 * -v required with -u, and every flag only with the operations it belongs to.
 */
import test from 'ava';
import fc from 'fast-check';
import * as E from 'fp-ts/Either';
import { DEFAULT_INSTANCE, planRskeymgmt, type RskeymgmtFlags, rskeymgmtHelpFlag } from '../src/cli/commands/rskeymgmt';

const ID = '6f1c1c52-7b8e-4d0e-9a37-2a3c5b1d9e01';
/** Each operation with the flags it needs, so that only the rule under test can refuse it. */
const COMPLETE: Readonly<Record<string, RskeymgmtFlags>> = {
  e: { e: true, f: 'rs-key.snk', p: 'a long enough password' },
  a: { a: true, f: 'rs-key.snk', p: 'a long enough password' },
  d: { d: true },
  s: { s: true },
  j: { j: true, m: 'RS-B' },
  r: { r: ID },
  l: { l: true },
};
const left = (f: RskeymgmtFlags): string => {
  const r = planRskeymgmt(f);
  if (E.isRight(r)) throw new Error(`accepted: ${JSON.stringify(r.right)}`);
  return r.left;
};

test('each operation alone, with what it needs, is planned as the keyledger command it stands for', (t) => {
  t.deepEqual(planRskeymgmt(COMPLETE['e']!), E.right({ op: 'extract', file: 'rs-key.snk', password: { argument: 'a long enough password' }, force: false }));
  t.deepEqual(planRskeymgmt(COMPLETE['a']!), E.right({ op: 'apply', file: 'rs-key.snk', password: { argument: 'a long enough password' }, force: false }));
  t.deepEqual(planRskeymgmt({ d: true, confirm: 'default' }), E.right({ op: 'delete', confirm: 'default' }));
  t.deepEqual(planRskeymgmt(COMPLETE['s']!), E.right({ op: 'recreate' }));
  t.deepEqual(planRskeymgmt(COMPLETE['j']!), E.right({ op: 'join', machine: 'RS-B', instance: DEFAULT_INSTANCE, credentialsIgnored: false }));
  t.deepEqual(planRskeymgmt({ r: ID, force: true, rotate: true }), E.right({ op: 'remove', installationId: ID, force: true, rotate: true }));
  t.deepEqual(planRskeymgmt(COMPLETE['l']!), E.right({ op: 'list' }));
  // keyledger's ways to keep the password out of the process list stand in for -p.
  t.deepEqual(planRskeymgmt({ e: true, f: 'k.snk', passwordStdin: true }), E.right({ op: 'extract', file: 'k.snk', password: { stdin: true }, force: false }));
  t.deepEqual(planRskeymgmt({ a: true, f: 'k.snk', passwordFile: 'pw' }), E.right({ op: 'apply', file: 'k.snk', password: { file: 'pw' }, force: false }));
  // -u / -v accepted with -j (and noted as not needed); -n names the instance.
  t.deepEqual(
    planRskeymgmt({ j: true, m: 'RS-B', n: 'B', u: 'admin', v: 'pw', expectThumbprint: 'T' }),
    E.right({ op: 'join', machine: 'RS-B', instance: 'B', expectThumbprint: 'T', credentialsIgnored: true }),
  );
});

test('no operation, or more than one, is refused with the one line that says so', (t) => {
  t.regex(left({}), /needs one operation: -e, -a, -d, -s, -j, -r or -l/);
  t.regex(left({ i: 'X', t: true }), /needs one operation/);
  fc.assert(
    fc.property(fc.subarray(Object.keys(COMPLETE), { minLength: 2 }), (ops) => {
      const flags = Object.assign({}, ...ops.map((o) => COMPLETE[o]!)) as RskeymgmtFlags;
      const message = left(flags);
      return message.includes('one operation per call') && ops.every((o) => message.includes(`-${o}`));
    }),
  );
});

test('-f and -p are required with -e and -a; -p cannot be empty; one password source only', (t) => {
  for (const op of ['e', 'a']) {
    t.regex(left({ [op]: true, p: 'pw' }), new RegExp(`rskeymgmt -${op} needs -f <file>`));
    t.regex(left({ [op]: true, f: 'k.snk' }), new RegExp(`rskeymgmt -${op} needs -p <password>`));
    t.regex(left({ [op]: true, f: 'k.snk', p: '' }), /-p: this value cannot be empty/);
    t.regex(left({ [op]: true, f: 'k.snk', p: 'pw', passwordStdin: true }), /give the password one way/);
  }
});

test('-m is required with -j, -v with -u (and -v never alone)', (t) => {
  t.regex(left({ j: true }), /rskeymgmt -j needs -m <remotecomputer>/);
  t.regex(left({ j: true, n: 'B' }), /needs -m/);
  t.regex(left({ j: true, m: 'RS-B', u: 'admin' }), /-u needs -v/);
  t.regex(left({ j: true, m: 'RS-B', v: 'pw' }), /-v \(a password\) is given without -u/);
});

test('every flag that belongs to some operations is refused with any other', (t) => {
  const belongs: ReadonlyArray<readonly [string, string | boolean, ReadonlyArray<string>]> = [
    ['f', 'k.snk', ['e', 'a']],
    ['p', 'pw', ['e', 'a']],
    ['passwordFile', 'pw', ['e', 'a']],
    ['passwordStdin', true, ['e', 'a']],
    ['m', 'RS-B', ['j']],
    ['n', 'B', ['j']],
    ['u', 'admin', ['j']],
    ['v', 'pw', ['j']],
    ['expectThumbprint', 'T', ['j']],
    ['force', true, ['r', 'e']],
    ['rotate', true, ['r']],
    ['confirm', 'default', ['d']],
  ];
  for (const [flag, value, ops] of belongs)
    for (const op of Object.keys(COMPLETE).filter((o) => !ops.includes(o))) {
      const message = left({ ...COMPLETE[op]!, [flag]: value });
      t.true(message.includes(`not with -${op}`), `${flag} with -${op}: ${message}`);
    }
});

test('rskeymgmt -? asks for the syntax (as --help does), and only after rskeymgmt', (t) => {
  t.deepEqual(rskeymgmtHelpFlag(['-c', 'a.json', 'rskeymgmt', '-?']), ['-c', 'a.json', 'rskeymgmt', '--help']);
  t.deepEqual(rskeymgmtHelpFlag(['secret', 'get', '-?']), ['secret', 'get', '-?']);
});

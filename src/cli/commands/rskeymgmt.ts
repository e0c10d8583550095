/** `keyledger rskeymgmt`: the SSRS rskeymgmt flags over keyledger's own commands. */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { loadConfig } from '../../infra/config';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { fail } from '../session';
import { backupCommand, restoreCommand } from './backup-restore';
import { joinCommand, removeCommand } from './join-remove';
import { recreateCommand } from './recreate';
import { listCommand } from './status-list';

type Flags = Record<string, string | boolean | undefined>;

const rskeymgmt = async (io: Io, g: GlobalOptions, o: Flags): Promise<number> => {
  if (o['d']) return fail(io, { _tag: 'UsageError', message: 'rskeymgmt -d (delete) is not available in this version of keyledger yet' });
  const local = o['i'];
  if (typeof local === 'string') {
    const c = loadConfig(g.config);
    if (E.isLeft(c)) return fail(io, c.left);
    if (c.right.instance.instanceName.toLowerCase() !== local.toLowerCase())
      return fail(io, {
        _tag: 'UsageError',
        message: `-i ${local} does not match the config's instance ${c.right.instance.instanceName}: pass the instance's config with -c`,
      });
  }
  const chosen = ['l', 'j', 'r', 'e', 'a', 's'].filter((f) => o[f] !== undefined && o[f] !== false);
  if (chosen.length !== 1)
    return fail(io, { _tag: 'UsageError', message: 'rskeymgmt takes exactly one of -l, -j, -r, -e, -a, -s (and -d in a later version)' });
  if (o['e'] || o['a']) {
    const file = o['f'];
    if (typeof file !== 'string') return fail(io, { _tag: 'UsageError', message: `rskeymgmt -${o['e'] ? 'e' : 'a'} needs -f <backup file>` });
    // SSRS scripts pass the password with -p: accepted for them, with a warning (keyledger backup/restore never take one as an argument).
    const src = typeof o['p'] === 'string' ? { argument: o['p'] } : {};
    return o['e'] ? backupCommand(io, g, file, src, false) : restoreCommand(io, g, file, src);
  }
  if (o['l']) return listCommand(io, g);
  if (o['s']) return recreateCommand(io, g);
  if (o['j'])
    return joinCommand(io, g, {
      ...(typeof o['m'] === 'string' ? { machine: o['m'] } : {}),
      ...(typeof o['n'] === 'string' ? { instance: o['n'] } : {}),
      ...(typeof o['expectThumbprint'] === 'string' ? { expectThumbprint: o['expectThumbprint'] } : {}),
    });
  return removeCommand(io, g, String(o['r']), o['force'] === true);
};

export const registerRskeymgmt = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('rskeymgmt')
    .description(
      'the SSRS rskeymgmt flags on top of keyledger: -l list, -j join (-m machine -n instance), -r <installationID> remove, ' +
        '-e -f FILE [-p PASSWORD] back up the key, -a -f FILE [-p PASSWORD] restore it, -s re-create the key, -i local instance name',
    )
    .option('-l', 'list the instances of the deployment')
    .option('-j', 'join a waiting instance (name it with -m and -n)')
    .option('-r <installationID>', 'remove an instance')
    .option('-m <machine>', 'remote machine (with -j)')
    .option('-n <instance>', 'remote instance (with -j)')
    .option('-i <instance>', 'local instance name (must match the config)')
    .option('-f <file>', 'backup file (with -e / -a)')
    .option('-p <password>', 'backup password (with -e / -a; visible in the process list: without -p it is asked on the terminal)')
    .option('-e', 'extract the key to a password-protected backup file (keyledger backup)')
    .option('-a', 'apply a backup to this instance (keyledger restore)')
    .option('-d', 'delete keys and encrypted content (not available yet)')
    .option('-s', 're-create the key and re-encrypt every secret (keyledger recreate)')
    .option('--force', 'with -r: allow removing the last member')
    .option('--expect-thumbprint <thumbprint>', "with -j: the newcomer's key thumbprint, as `keyledger status` prints it there")
    .action(async (o: Flags) => done(await rskeymgmt(io, globals(), o)));
};

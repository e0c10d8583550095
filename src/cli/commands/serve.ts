/**
 * `keyledger serve`: the instance as a service (docs/adr/0019) — the `/reportserver` ping a load balancer checks, the
 * JSON API for scripts (bearer tokens, roles), `/metrics` for Prometheus and a dashboard for people; on 127.0.0.1:8080
 * unless `--listen` says otherwise, over TLS with `--tls-cert` and `--tls-key`. It runs the served instance's start
 * check when it starts and when a copy of the key is wrapped for it. SIGTERM (or SIGINT) stops it gracefully: no new
 * connection is taken, the requests under way finish, then the store is closed.
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { shown } from '../../domain/text';
import { tokenFileOf } from '../../infra/token-file';
import { type CliError, EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { fail, usage, withSession } from '../session';

export interface ServeFlags {
  readonly listen?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tokens?: string;
  readonly metricsTokenRequired?: boolean;
  /** commander's `--no-start`: false when given. */
  readonly start?: boolean;
}

/** `HOST:PORT` (`[::1]:8080` for IPv6), port 0–65535 (0: any free port, printed). */
export const parseListen = (s: string): E.Either<CliError, { readonly host: string; readonly port: number }> => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) return usage(`--listen "${shown(s, 64)}" is not HOST:PORT (e.g. 127.0.0.1:8080, 0.0.0.0:443, [::1]:8080)`);
  return E.right({ host: m[1] ?? m[2] ?? '127.0.0.1', port });
};

const readTls = (flags: ServeFlags): E.Either<CliError, { cert: Buffer; key: Buffer } | undefined> => {
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) return usage('TLS needs both --tls-cert FILE and --tls-key FILE');
  if (flags.tlsCert === undefined || flags.tlsKey === undefined) return E.right(undefined);
  try {
    return E.right({ cert: fs.readFileSync(flags.tlsCert), key: fs.readFileSync(flags.tlsKey) });
  } catch (e) {
    return usage(`cannot read the TLS certificate or key (${(e as NodeJS.ErrnoException).code ?? 'unreadable'}): give readable PEM files`);
  }
};

const untilSignal = (): Promise<string> =>
  new Promise((resolve) => {
    const on = (signal: string) => () => {
      process.off('SIGTERM', term);
      process.off('SIGINT', int);
      resolve(signal);
    };
    const term = on('SIGTERM');
    const int = on('SIGINT');
    process.once('SIGTERM', term);
    process.once('SIGINT', int);
  });

const serveCommand = async (io: Io, g: GlobalOptions, flags: ServeFlags): Promise<number> => {
  const listen = parseListen(flags.listen ?? '127.0.0.1:8080');
  if (E.isLeft(listen)) return fail(io, listen.left);
  const tls = readTls(flags);
  if (E.isLeft(tls)) return fail(io, tls.left);
  return withSession(
    io,
    g,
    async (s) => {
      // fastify and prom-client load here, not with every command.
      const { startServer } = await import('../../http/server');
      const log = (line: string): void => io.stderr(`keyledger: ${line}\n`);
      const running = await startServer(
        s,
        {
          host: listen.right.host,
          port: listen.right.port,
          ...(tls.right ? { https: tls.right } : {}),
          tokensFile: flags.tokens ?? tokenFileOf(g.config),
          metricsTokenRequired: flags.metricsTokenRequired === true,
          start: flags.start !== false,
        },
        log,
      );
      if (E.isLeft(running)) return running;
      io.stdout(`listening on ${running.right.url} (installation ${s.config.instance.installationId}; GET /reportserver)\n`);
      const signal = await untilSignal();
      log(`${signal}: stopping (requests under way finish first)`);
      await running.right.close();
      return E.right(EXIT.ok);
    },
    { groupCommit: true },
  );
};

export const registerServe = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('serve')
    .option('--listen <host:port>', 'where to listen (default 127.0.0.1:8080; 0.0.0.0:PORT for every interface)')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM; with --tls-key)')
    .option('--tls-key <file>', "the certificate's private key (PEM)")
    .option('--tokens <file>', 'the token file (default: <config>.tokens.json beside the config; keyledger token create writes it)')
    .option('--metrics-token-required', '/metrics needs a token too (of any role); by default it is open, like the ping')
    .option('--no-start', "do not run the served instance's start check (at start-up, and when a copy of the key is wrapped for it)")
    .description(
      'serve this instance over HTTP: GET /reportserver (200 activated, 503 RSReportServerNotActivated with the reason and remedy), ' +
        'a JSON API with bearer tokens and roles (/openapi.json), /metrics (Prometheus) and a dashboard (/); SIGTERM stops it gracefully',
    )
    .action(async (o: ServeFlags) => done(await serveCommand(io, globals(), o)));
};

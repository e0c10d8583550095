/**
 * The server side of bench/serve.ts, in a process of its own (so the load generator does not share its event loop):
 * a fresh instance initialized in a temp folder, `keyledger serve`'s server over it (startServer, as the command runs
 * it) with an operator token, and — for the ping bench — a bare fastify app answering a constant on another port.
 * Prints one JSON line (ports, token) and runs until SIGTERM.
 *
 *   node serve-child.js ping             the server + the bare app
 *   node serve-child.js append group     the server, SQLite group commit on, and POST /bench/config-read
 *   node serve-child.js append single    the same, one transaction per append
 *
 * POST /bench/config-read {installationId} (an operator route on the server's own app) runs a real command through the command handler: step 1 of an
 * initialization (the instance decider's RecordConfig → ConfigRead, appended with its expected revision) for a new
 * installation, so 32 concurrent requests append to 32 streams, each checking its own revision.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fastify, { type FastifyInstance } from 'fastify';
import * as E from 'fp-ts/Either';
import { runCli } from '../src/cli/main';
import { openSession } from '../src/cli/session';
import { handleCommand } from '../src/commands/handler';
import { instanceAggregate } from '../src/commands/instance';
import type { DeploymentId, InstallationId, NonEmptyString } from '../src/domain/ids';
import { instanceDecider } from '../src/domain/instance/decider';
import { startServer } from '../src/http/server';
import { sha256Hex } from '../src/infra/sha256';
import { tokenFileOf } from '../src/infra/token-file';

const configOf = (id: InstallationId) => ({
  installationId: id,
  deploymentId: 'bench' as DeploymentId,
  machineName: 'RS-BENCH' as NonEmptyString,
  instanceName: 'MSSQLSERVER' as NonEmptyString,
  serviceIdentity: 'NT SERVICE\\ReportServer' as NonEmptyString,
  store: { kind: 'sqlite' as const, location: 'bench' },
  keystorePath: '/bench/keystore.json',
});

const quietIo = { stdout: () => undefined, stderr: () => undefined, env: { ...process.env, KEYLEDGER_ACTOR: 'bench@localhost' }, isTTY: false };

const main = async (): Promise<void> => {
  const [kind = 'ping', mode = 'group'] = process.argv.slice(2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-serve-'));
  const config = path.join(dir, 'node.json');
  const run = async (...args: string[]): Promise<string> => {
    let out = '';
    await runCli(['-c', config, ...args], { ...quietIo, stdout: (s) => (out += s) });
    return out;
  };
  await run('config', 'new', '--instance', 'BENCH', '--machine', 'RS-BENCH');
  await run('init');
  const token = (JSON.parse(await run('--json', 'token', 'create', '--role', 'operator', '--name', 'bench-operator')) as { token: string }).token;
  const s = await openSession(quietIo, { config }, { groupCommit: mode === 'group' });
  if (E.isLeft(s)) throw new Error(JSON.stringify(s.left));
  const session = s.right;
  // The server's own clock around the appends (first request in, last answer out): autocannon's `duration` ends on
  // its one-second tick after the last answer, which quantised every rate to whole seconds.
  let firstIn: bigint | undefined;
  let lastOut: bigint | undefined;
  const configRead = (app: FastifyInstance): void => {
    app.post('/bench/config-read', { config: { access: ['operator'] } }, async (request, reply) => {
      firstIn ??= process.hrtime.bigint();
      const id = (request.body as { installationId: InstallationId }).installationId;
      const r = await handleCommand({ store: session.store, ctx: session.ctx('init'), digest: sha256Hex }, { instance: instanceAggregate(id) }, async (l) => {
        const decided = instanceDecider.decide({ type: 'RecordConfig', config: configOf(id) }, l.instance.state);
        return E.isLeft(decided) ? decided : E.right({ append: { to: 'instance' as const, events: decided.right }, result: undefined });
      });
      lastOut = process.hrtime.bigint();
      return reply.code(E.isRight(r) ? 200 : 409).send(E.isRight(r) ? { appended: r.right.appended } : { error: r.left._tag });
    });
  };
  const server = await startServer(
    session,
    { host: '127.0.0.1', port: 0, tokensFile: tokenFileOf(config), logTo: fs.createWriteStream('/dev/null'), plugins: [configRead] },
    () => undefined,
  );
  if (E.isLeft(server)) throw new Error(JSON.stringify(server.left));
  await server.right.ctx.view.ready;
  let barePort = 0;
  const bare = fastify();
  if (kind === 'ping') {
    bare.get('/reportserver', (_request, reply) => reply.type('text/plain; charset=utf-8').send('activated\n'));
    await bare.listen({ host: '127.0.0.1', port: 0 });
    const a = bare.server.address();
    barePort = typeof a === 'object' && a !== null ? a.port : 0;
  }
  const url = new URL(server.right.url);
  process.stdout.write(`${JSON.stringify({ port: Number(url.port), barePort, token })}\n`);
  process.once('SIGTERM', () => {
    void (async () => {
      const store = session.store as { groupsCommitted?: number };
      const servedMs = firstIn !== undefined && lastOut !== undefined ? Number(lastOut - firstIn) / 1e6 : 0;
      process.stdout.write(`${JSON.stringify({ groupsCommitted: store.groupsCommitted ?? 0, servedMs })}\n`);
      await bare.close();
      await server.right.close();
      session.closeLocal();
      await session.store.close();
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    })();
  });
};

main().catch((e: unknown) => {
  process.stderr.write(`serve-child failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});

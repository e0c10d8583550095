/**
 * `/metrics` in the Prometheus text format (prom-client; docs/adr/0019), computed from the live views at each scrape —
 * no ledger read: instances by state per deployment, open findings by kind, each deployment's key version and its age,
 * seconds since its last key backup, events recorded per type, and the latencies of the server's own requests.
 * Unauthenticated by default, like the ping (`serve --metrics-token-required`: a token of any role).
 */
import type { FastifyInstance } from 'fastify';
import { Gauge, Histogram, Registry } from 'prom-client';
import type { FleetMetrics } from '../projections/fleet-metrics';
import { allFindings } from '../projections/findings';
import { listInstances } from '../projections/status';
import type { ServerContext } from './context';
import type { Live } from './served-view';

export const registerMetrics = (app: FastifyInstance, ctx: ServerContext, fleet?: Live<FleetMetrics>): Registry => {
  const registry = new Registry();
  const view = () => {
    const s = ctx.view.state();
    return s.kind === 'live' ? s.view : undefined;
  };
  new Gauge({
    name: 'keyledger_view_live',
    help: 'Whether the activation view is live (1), still reading the ledger (0), or stopped on a ledger problem (-1)',
    registers: [registry],
    collect() {
      const s = ctx.view.state();
      this.set(s.kind === 'live' ? 1 : s.kind === 'starting' ? 0 : -1);
    },
  });
  new Gauge({
    name: 'keyledger_instances',
    help: 'Instances by state (activated, waiting-to-join, disabled, removed, initializing, not-initialized) per deployment',
    labelNames: ['deployment', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      const v = view();
      if (!v) return;
      for (const st of listInstances(v)) {
        const deployment = st.state === 'not-initialized' ? '' : (st.view.deploymentId ?? '');
        this.inc({ deployment, state: st.state });
      }
    },
  });
  new Gauge({
    name: 'keyledger_open_findings',
    help: 'Open findings by kind (ForeignPublicKey, StaleCopy, RemovedMemberHoldsKey, ...)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      const v = view();
      if (!v) return;
      for (const f of allFindings(v)) this.inc({ kind: f.kind });
    },
  });
  new Gauge({
    name: 'keyledger_key_version',
    help: "The deployment's current symmetric key version",
    labelNames: ['deployment'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of Object.values(view()?.deployments ?? {})) if (d.currentKeyVersion !== null) this.set({ deployment: d.deploymentId }, d.currentKeyVersion);
    },
  });
  new Gauge({
    name: 'keyledger_key_version_age_seconds',
    help: "Seconds since the deployment's current key version was created (as its creator's clock recorded it)",
    labelNames: ['deployment'],
    registers: [registry],
    collect() {
      this.reset();
      const now = Date.now();
      for (const d of Object.values(view()?.deployments ?? {}))
        if (d.currentKeyCreated) this.set({ deployment: d.deploymentId }, Math.max(0, (now - Date.parse(d.currentKeyCreated.occurredAt)) / 1000));
    },
  });
  if (fleet) {
    const fleetView = () => {
      const s = fleet.state();
      return s.kind === 'live' ? s.view : undefined;
    };
    new Gauge({
      name: 'keyledger_seconds_since_last_backup',
      help: "Seconds since the deployment's key was last backed up (any version; see keyledger_last_backup_key_version)",
      labelNames: ['deployment'],
      registers: [registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const [deployment, b] of Object.entries(fleetView()?.backups ?? {})) this.set({ deployment }, Math.max(0, (now - Date.parse(b.at)) / 1000));
      },
    });
    new Gauge({
      name: 'keyledger_last_backup_key_version',
      help: 'The key version the newest backup of the deployment holds (behind keyledger_key_version: no backup of the current key)',
      labelNames: ['deployment'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [deployment, b] of Object.entries(fleetView()?.backups ?? {})) this.set({ deployment }, b.keyVersion);
      },
    });
    new Gauge({
      name: 'keyledger_events',
      help: 'Events recorded in the ledger (appends), per event type',
      labelNames: ['type'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [type, n] of Object.entries(fleetView()?.events ?? {})) this.set({ type }, n);
      },
    });
  }
  const latency = new Histogram({
    name: 'keyledger_http_request_duration_seconds',
    help: 'Latency of the requests this server answered, by method, route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    latency.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { config: { access: 'metrics' } }, async (_request, reply) =>
    reply
      .header('cache-control', 'no-store')
      .type(registry.contentType)
      .send(await registry.metrics()),
  );
  return registry;
};

/**
 * The operator's and auditor's other actions over HTTP, each as its CLI command does it (docs/adr/0019): a checkpoint
 * signed by the served member, remove, recreate (a new key version, secrets re-encrypted), change-identity on the served
 * instance (its config read again: it stays activated under the new identity), delete-content's dry run — every event
 * recorded under the token's name.
 */
import test from 'ava';
import { tempDir } from '../support/fixtures';
import { issueToken, serve } from '../support/http';
import { activatedDeployment } from '../support/nodes';

test('checkpoint, remove, recreate, change-identity and the delete-content dry run over HTTP', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('kl-serve-operator');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const served = await serve(a!);
  t.teardown(() => served.close());
  const operator = await issueToken(a!, 'operator', 'ops@contoso');
  const auditor = await issueToken(a!, 'auditor', 'auditor@contoso');
  const call = async (method: 'GET' | 'POST' | 'PUT', url: string, token: string, payload?: object) => {
    const res = await served.server.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
    return { status: res.statusCode, json: <T = Record<string, unknown>>() => res.json<T>(), body: res.body };
  };

  const cp = await call('POST', '/api/checkpoint', auditor, {});
  t.is(cp.status, 200, cp.body);
  t.regex(cp.json<{ note: string }>().note, /^keyledger\/ledger\//m);

  t.is((await call('PUT', '/api/secrets/smtp/password', operator, { value: 'hunter2-hunter2' })).status, 200);
  const removed = await call('POST', '/api/remove', operator, { installationId: b!.id });
  t.is(removed.status, 200, removed.body);
  t.like(removed.json(), { installationId: b!.id, recorded: ['InstanceRemoved'] });
  t.is((await call('POST', '/api/remove', operator, { installationId: a!.id })).status, 409, 'the last member is only removed with force');

  const recreated = await call('POST', '/api/recreate', operator, {});
  t.is(recreated.status, 200, recreated.body);
  t.like(recreated.json(), { keyVersion: 2, retiredVersion: 1, reencrypted: 1 });

  const moved = await call('POST', '/api/change-identity', operator, { serviceIdentity: 'svc-reports' });
  t.is(moved.status, 200, moved.body);
  t.like(moved.json(), { serviceIdentity: 'svc-reports', activation: { state: 'activated' } });
  // The served config was rewritten and read again: the next key operation runs under the new identity.
  const after = await call('POST', '/api/checkpoint', auditor, {});
  t.is(after.status, 200, after.body);
  const status = await a!.run('--json', 'status');
  t.like(status.json(), { state: 'activated', serviceIdentity: 'svc-reports', keyVersion: 2 }, status.stdout);

  const dry = await call('POST', '/api/delete-content', operator, {});
  t.is(dry.status, 200, dry.body);
  t.like(dry.json(), { dryRun: true, keyVersions: [2], names: ['smtp/password'] });
  t.like((await call('POST', '/api/delete-content', operator, { confirm: 'not-this-one' })).json(), { error: 'DeletionNotConfirmed' });

  const trail = (await a!.run('--json', 'audit', '--deployment', 'default', '--type', 'InstanceRemoved,SymmetricKeyCreated,KeyVersionRetired')).stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; actor: string });
  t.deepEqual(
    trail.filter((e) => e.actor === 'ops@contoso').map((e) => e.type),
    ['InstanceRemoved', 'SymmetricKeyCreated', 'KeyVersionRetired'],
  );
});

/**
 * Issue 15, item 4: `keyledger prove` exports one event with its inclusion proof against a signed checkpoint, and
 * `bin/keyledger-verify-proof` — one file, node:* modules only — checks it offline, as a process of its own with
 * nothing of keyledger loaded. Every negative case is run against it and against the internal checker
 * (`checkProofFile`), which must agree: a forged proof, a proof for another index, a proof against a larger tree,
 * a bad or missing signature, extra or reordered checkpoint lines, an altered event. The same file answered over HTTP
 * (`GET /api/prove`, with the keys of `GET /api/checkpoint/vkey`) is checked by it too.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { checkProofFile, type InclusionProofFile } from '../../src/commands/prove';
import { toBase64 } from '../../src/domain/tlog/bytes';
import { type NoteKey, parseVerifierKey } from '../../src/domain/tlog/note';
import { ed25519Of } from '../../src/infra/note-verify';
import { sha256Hex } from '../../src/infra/sha256';
import { signatures } from '../../src/infra/signing';
import { sha256Bytes } from '../../src/infra/sqlite-tree';
import { tempDir } from '../support/fixtures';
import { issueToken, serve } from '../support/http';
import { outsider } from '../support/notes';
import { activatedDeployment, newNode } from '../support/nodes';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'keyledger-verify-proof');

/** The standalone verifier, as a process of its own. */
const standalone = (file: string, keys: ReadonlyArray<string>, ...more: string[]): { code: number | null; out: string } => {
  const r = spawnSync(process.execPath, [BIN, file, ...keys.flatMap((k) => ['--key', k]), ...more], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout + r.stderr };
};

const internal = (proof: unknown, vkeys: ReadonlyArray<string>): E.Either<string, unknown> => {
  const keys = vkeys.map((k) =>
    E.getOrElseW((e: string) => {
      throw new Error(e);
    })(parseVerifierKey(sha256Bytes, k)),
  ) as NoteKey[];
  return checkProofFile(proof, keys, sha256Bytes, sha256Hex, ed25519Of(signatures.verify));
};

test('prove → bin/keyledger-verify-proof in a process of its own; every forged variant refused by it and by the internal checker', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('kl-proof');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const cp1 = path.join(dir, 'cp1.checkpoint');
  t.is((await a!.run('checkpoint', '-o', cp1)).code, 0);
  const vkeys = (await a!.run('checkpoint', '--vkey')).stdout.trim().split('\n');
  t.is(vkeys.length, 2);
  const stream = `keyledger.instance-${b!.id}`;
  const out = path.join(dir, 'proof.json');
  const proved = await a!.run('prove', `${stream}@1`, '-o', out);
  t.is(proved.code, 0, proved.stderr);
  const proof = JSON.parse(fs.readFileSync(out, 'utf8')) as InclusionProofFile;
  t.is(proof.event.stream, stream);
  t.is(proof.event.type, 'KeyPairIssued');
  t.is(proof.checkpoint, fs.readFileSync(cp1, 'utf8'), 'proved against the checkpoint just written');

  const good = standalone(out, vkeys);
  t.is(good.code, 0, good.out);
  t.regex(
    good.out,
    new RegExp(`^VERIFIED "${stream}@1" \\("KeyPairIssued"\\) is leaf ${proof.leafIndex} of "keyledger/ledger/[^"]+" at size ${proof.treeSize}`),
  );
  t.true(E.isRight(internal(proof, vkeys)));
  t.is(standalone(out, vkeys, '--origin', 'keyledger/ledger/another').code, 1, 'another ledger named');

  // A larger tree: more events, a newer checkpoint.
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  const cp2 = path.join(dir, 'cp2.checkpoint');
  t.is((await a!.run('checkpoint', '-o', cp2)).code, 0);
  const larger = fs.readFileSync(cp2, 'utf8');
  const largerSize = Number(larger.split('\n')[1]);
  t.true(largerSize > proof.treeSize);

  const me = outsider();
  const [origin, size, root] = proof.checkpoint.split('\n');
  const flip = (b64: string): string => toBase64(Buffer.from(b64, 'base64').map((x, i) => (i === 0 ? x ^ 1 : x)));
  const sigLine = proof.checkpoint.split('\n').find((l) => l.startsWith(`— keyledger/member/${a!.id} `))!;
  const [, name, sig] = /^— (\S+) (\S+)$/.exec(sigLine)!;
  const cases: Array<[string, InclusionProofFile, ReadonlyArray<string>]> = [
    ['a forged proof (one hash flipped)', { ...proof, inclusionProof: proof.inclusionProof.map((h, i) => (i === 0 ? flip(h) : h)) }, vkeys],
    ['the proof for another index', { ...proof, leafIndex: proof.leafIndex + 1 }, vkeys],
    ['the proof for another index (below)', { ...proof, leafIndex: proof.leafIndex - 1 }, vkeys],
    ['the proof against a larger tree', { ...proof, checkpoint: larger, treeSize: largerSize }, vkeys],
    [
      'a bad signature',
      { ...proof, checkpoint: proof.checkpoint.replace(sigLine, `— ${name} ${sig!.slice(0, 20)}${sig![20] === 'A' ? 'B' : 'A'}${sig!.slice(21)}`) },
      vkeys,
    ],
    ['no signature by a given key', proof, [me.vkey]],
    ['the signatures removed', { ...proof, checkpoint: `${proof.checkpoint.split('\n\n')[0]}\n\n` }, vkeys],
    ['an extra checkpoint line (signed by a given key)', { ...proof, checkpoint: me.note(`${origin}\n${size}\n${root}\nextension\n`) }, [me.vkey]],
    ['reordered checkpoint lines (signed by a given key)', { ...proof, checkpoint: me.note(`${origin}\n${root}\n${size}\n`) }, [me.vkey]],
    ['an altered event', { ...proof, event: { ...proof.event, data: { ...(proof.event.data as object), keySize: 4096 } } }, vkeys],
    ['an event moved to another revision', { ...proof, event: { ...proof.event, revision: '2' } }, vkeys],
  ];
  // The outsider's own signature over the real body verifies: the two body cases fail for their lines, not their signature.
  t.is(standalone(writeJson(dir, 'outsider', { ...proof, checkpoint: me.note(`${origin}\n${size}\n${root}\n`) }), [me.vkey]).code, 0);
  for (const [what, forged, keys] of cases) {
    const file = writeJson(dir, what.replace(/\W+/g, '-'), forged);
    const r = standalone(file, keys);
    t.is(r.code, 1, `${what}: ${r.out}`);
    t.regex(r.out, /^NOT VERIFIED: /, what);
    t.true(E.isLeft(internal(forged, keys)), `internal: ${what}`);
  }
  t.is(standalone(out, []).code, 2, 'no key: usage');
  t.is(standalone(out, ['not-a-vkey']).code, 2, 'a malformed key: usage');
});

const writeJson = (dir: string, name: string, v: unknown): string => {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(v));
  return file;
};

test('the standalone verifier imports nothing but node:* modules', (t) => {
  const source = fs.readFileSync(BIN, 'utf8');
  const required = [...source.matchAll(/require\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]);
  t.true(required.length > 0);
  t.deepEqual(
    required.filter((m) => !m!.startsWith('node:')),
    [],
  );
  t.notRegex(source, /\bimport\s|import\(/);
});

test("over HTTP: the served member's verifier keys and its proof (GET /api/checkpoint/vkey, GET /api/prove) — bin/keyledger-verify-proof checks them offline", async (t) => {
  t.timeout(120_000);
  const dir = tempDir('kl-proof-http');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const auditor = await issueToken(a!, 'auditor', 'auditor@contoso');
  const served = await serve(a!);
  t.teardown(() => served.close());
  const get = (url: string, method: 'GET' | 'POST' = 'GET') =>
    served.server.app.inject({ method, url, headers: { authorization: `Bearer ${auditor}` }, ...(method === 'POST' ? { payload: {} } : {}) });
  t.is((await get('/api/checkpoint', 'POST')).statusCode, 200, 'a checkpoint signed and kept by the served member');
  const vkeys = (await get('/api/checkpoint/vkey')).json<{ note: string; cosignature: string }>();
  const stream = `keyledger.instance-${b!.id}`;
  const answer = await get(`/api/prove?stream=${stream}&revision=1`);
  t.is(answer.statusCode, 200, answer.body);
  // The answer's body, saved as it came: the file bin/keyledger-verify-proof takes.
  const file = path.join(dir, 'http-proof.json');
  fs.writeFileSync(file, answer.body);
  const proof = answer.json<InclusionProofFile>();
  const good = standalone(file, [vkeys.note, vkeys.cosignature]);
  t.is(good.code, 0, good.out);
  t.regex(
    good.out,
    new RegExp(`^VERIFIED "${stream}@1" \\("KeyPairIssued"\\) is leaf ${proof.leafIndex} of "keyledger/ledger/[^"]+" at size ${proof.treeSize}`),
  );
  t.true(E.isRight(internal(proof, [vkeys.note])));
  // The CLI writes the same file.
  const cliFile = path.join(dir, 'cli-proof.json');
  t.is((await a!.run('prove', `${stream}@1`, '-o', cliFile)).code, 0);
  t.deepEqual(JSON.parse(fs.readFileSync(cliFile, 'utf8')), proof);
  // Checked, not echoed: the answer with its event altered is refused by the same verifier.
  const altered = writeJson(dir, 'http-altered', { ...proof, event: { ...proof.event, type: 'KeyPairReplaced' } });
  const bad = standalone(altered, [vkeys.note]);
  t.is(bad.code, 1, bad.out);
  t.regex(bad.out, /^NOT VERIFIED: /);
});

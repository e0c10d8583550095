/**
 * The API's codecs and the JSON Schema derived from them (src/http/codecs.ts): a join's body takes exactly one of two
 * forms (installationId, or machineName and instanceName), refusing both or neither with one clear line; its schema is
 * oneOf two closed objects. (test/http.int.ts has a JSON Schema validator judge bodies against the served /openapi.json.)
 */
import test from 'ava';
import * as E from 'fp-ts/Either';
import { decodeInput, JoinBody, schemaOf, VerifyBody } from '../src/http/codecs';

const ID = '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b';
const TP = 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg';

test('a join body: installationId or machineName and instanceName, exactly one of the two; the line says which members', (t) => {
  const ok = (v: object) => t.true(E.isRight(decodeInput(JoinBody, v, 'body')), JSON.stringify(v));
  const refused = (v: object, line: string) => t.deepEqual(decodeInput(JoinBody, v, 'body'), E.left(line), JSON.stringify(v));
  ok({ installationId: ID, expectThumbprint: TP });
  ok({ installationId: ID, expectThumbprint: TP, rewrap: true });
  ok({ machineName: 'RS-NODE-2', instanceName: 'MSSQLSERVER', expectThumbprint: TP });
  const forms = 'the body must give installationId, or machineName and instanceName';
  refused({ expectThumbprint: TP }, forms);
  refused({}, forms);
  refused(
    { installationId: ID, machineName: 'RS-NODE-2', instanceName: 'MSSQLSERVER', expectThumbprint: TP },
    `${forms}, not members of several of these forms (it has installationId, machineName, instanceName)`,
  );
  refused(
    { installationId: ID, instanceName: 'MSSQLSERVER', expectThumbprint: TP },
    `${forms}, not members of several of these forms (it has installationId, instanceName)`,
  );
  refused({ machineName: 'RS-NODE-2', expectThumbprint: TP }, 'body member "instanceName" is missing: expected 1–128 printable characters');
  refused({ installationId: ID }, 'body member "expectThumbprint" is missing: expected an RFC 7638 SHA-256 thumbprint, base64url (43 characters)');
  refused({ installationId: 'node-b', expectThumbprint: TP }, 'body member "installationId" is not valid: expected an installation ID (a GUID)');
  refused(
    { installationId: ID, expectThumbprint: TP, sponsor: ID },
    'the body has a member this request does not take ("sponsor"); it takes: installationId, expectThumbprint, rewrap, machineName, instanceName',
  );
  // The decoded value is one form, without a member of the other.
  t.deepEqual(
    JoinBody.decode({ machineName: 'M', instanceName: 'N', expectThumbprint: TP }),
    E.right({ machineName: 'M', instanceName: 'N', expectThumbprint: TP }),
  );
  t.true(E.isLeft(JoinBody.decode({ installationId: ID, machineName: 'M', expectThumbprint: TP })), 'the codec itself refuses both, not only decodeInput');
});

test("the join body's schema: oneOf two closed objects, each with its own required members", (t) => {
  const thumbprint = { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$', description: 'an RFC 7638 SHA-256 thumbprint, base64url (43 characters)' };
  const name = { type: 'string', minLength: 1, maxLength: 128, description: '1–128 printable characters' };
  t.deepEqual(schemaOf(JoinBody), {
    oneOf: [
      {
        type: 'object',
        properties: {
          installationId: { type: 'string', format: 'uuid', description: 'an installation ID (a GUID)' },
          expectThumbprint: thumbprint,
          rewrap: { type: 'boolean' },
        },
        required: ['installationId', 'expectThumbprint'],
        additionalProperties: false,
      },
      {
        type: 'object',
        properties: { machineName: name, instanceName: name, expectThumbprint: thumbprint, rewrap: { type: 'boolean' } },
        required: ['machineName', 'instanceName', 'expectThumbprint'],
        additionalProperties: false,
      },
    ],
  });
  t.like(schemaOf(VerifyBody), {
    properties: { keys: { type: 'array', minItems: 1, maxItems: 16 }, checkpoint: { type: 'string' } },
    additionalProperties: false,
  });
});

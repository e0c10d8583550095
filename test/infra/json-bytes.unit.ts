/** The checkpoint serializer writes exactly what JSON.stringify would, member by member (issue 10: a save's memory). */
import test from 'ava';
import fc from 'fast-check';
import { jsonBytes } from '../../src/infra/sqlite-checkpoints';

test('jsonBytes is JSON.stringify, as UTF-8, for any JSON value and depth (undefined members left out the same way)', (t) => {
  const value = fc.oneof(
    fc.jsonValue(),
    fc.dictionary(fc.string(), fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.dictionary(fc.string(), fc.jsonValue()))),
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 3 }), (v, depth) => {
        if (jsonBytes(v, depth).toString('utf8') !== JSON.stringify(v)) throw new Error(`differs for ${JSON.stringify(v)} at depth ${depth}`);
      }),
      { numRuns: 300 },
    ),
  );
  t.is(jsonBytes({ a: {}, b: { c: 'é' } }).toString('utf8'), '{"a":{},"b":{"c":"é"}}');
});

/** The checkpoint serializer writes exactly what JSON.stringify would, piece by piece (issue 10: a save's memory). */
import test from 'ava';
import fc from 'fast-check';
import { jsonPieces } from '../../src/infra/sqlite-checkpoints';

const joined = (v: unknown, depth: number, pieceBytes: number): string => Buffer.concat([...jsonPieces(v, depth, pieceBytes)]).toString('utf8');

test('jsonPieces is JSON.stringify, as UTF-8, for any JSON value, depth and piece size (undefined members left out the same way)', (t) => {
  const value = fc.oneof(
    fc.jsonValue(),
    fc.dictionary(fc.string(), fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.dictionary(fc.string(), fc.jsonValue()))),
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 64 }), (v, depth, pieceBytes) => {
        if (joined(v, depth, pieceBytes) !== JSON.stringify(v)) throw new Error(`differs for ${JSON.stringify(v)} at depth ${depth}`);
      }),
      { numRuns: Number(process.env['FUZZ_RUNS'] ?? 300) },
    ),
  );
  t.is(joined({ a: {}, b: { c: 'é' } }, 2, 4), '{"a":{},"b":{"c":"é"}}');
  t.true([...jsonPieces({ a: 'x'.repeat(100), b: 'y'.repeat(100) }, 2, 64)].length >= 2, 'a large value comes in several pieces');
});

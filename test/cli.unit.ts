/**
 * A thumbprint is base64url: one in 64 begins with "-". Pasted after
 * --expect-thumbprint (or --expect-genesis), it is the option's value, not a
 * missing one — the remedies print it that way, and the join must take it.
 */
import test from 'ava';
import { joinThumbprintValues } from '../src/cli/main';

const T = '-cBPbvd-EloQR-BVCMYEfJcwesq--DHmd74WroNJVQg';

test('a thumbprint beginning with "-" after --expect-thumbprint / --expect-genesis is taken as the value', (t) => {
  t.deepEqual(joinThumbprintValues(['join', 'id', '--expect-thumbprint', T]), ['join', 'id', `--expect-thumbprint=${T}`]);
  t.deepEqual(joinThumbprintValues(['trust', '--expect-genesis', T, '--json']), ['trust', `--expect-genesis=${T}`, '--json']);
  // Anything else is left to the parser as it is: an option after it, a value that is not a thumbprint.
  t.deepEqual(joinThumbprintValues(['join', 'id', '--expect-thumbprint', '--rewrap']), ['join', 'id', '--expect-thumbprint', '--rewrap']);
  t.deepEqual(joinThumbprintValues(['join', 'id', '--expect-thumbprint', 'abc']), ['join', 'id', '--expect-thumbprint', 'abc']);
});

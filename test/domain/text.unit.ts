/**
 * What reaches a terminal from the store is escaped and bounded (src/domain/text.ts); a remedy's sentence, keyledger's
 * own prose, is bounded much further out so that no printed remedy ends mid-sentence.
 */
import test from 'ava';
import { restoreFromBackup } from '../../src/domain/remedy';
import { shownDeep } from '../../src/domain/text';
import { statusText } from '../../src/cli/render';

test('a stored string is escaped and cut at 200 characters, the rest counted', (t) => {
  const hostile = `RS\u001b[2J${'x'.repeat(300)}`;
  const out = shownDeep({ machineName: hostile });
  t.false(out.machineName.includes('\u001b'));
  t.true(out.machineName.startsWith('RS\\u001b[2J'));
  t.regex(out.machineName, /… \(\d+ more characters\)$/);
});

test('a remedy sentence longer than 200 characters is printed whole by status (escaped, never cut)', (t) => {
  const why = `its keystore is lost and no copy it can unwrap remains on ${'RS-NODE-'.repeat(12)}`;
  const remedy = restoreFromBackup(why, { installationId: '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b', thumbprint: null, otherHolders: 0 });
  t.true(remedy.sentence.length > 200, `the sentence is ${remedy.sentence.length} characters`);
  const shown = shownDeep(remedy);
  t.is(shown.sentence, remedy.sentence);
  const text = statusText({ state: 'not-initialized', installationId: '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b', remedy } as never);
  t.true(text.includes(remedy.sentence), text);
  t.false(text.includes('more characters'));
  // Still bounded: a sentence (from a hostile source) of 10,000 characters is cut.
  t.regex(shownDeep({ sentence: 'y'.repeat(10_000) }).sentence, /… \(8000 more characters\)$/);
});

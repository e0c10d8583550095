/**
 * Text that reaches a person: what may be accepted as a name, and how text read
 * from the store (untrusted: anyone who can write the store wrote it) is shown.
 * Pure.
 */

/** C0 and C1 controls, DEL, and the characters that reorder or break what a terminal shows (bidi marks and overrides, line separators). */
export const unsafeInText = (c: number): boolean =>
  c < 0x20 ||
  (c >= 0x7f && c <= 0x9f) ||
  c === 0x061c ||
  c === 0x200e ||
  c === 0x200f ||
  c === 0x2028 ||
  c === 0x2029 ||
  (c >= 0x202a && c <= 0x202e) ||
  (c >= 0x2066 && c <= 0x2069);

/**
 * Text safe to print on a terminal: each control, bidi or line-separator character becomes a `\uXXXX` escape,
 * so a stored value can neither move the cursor, rewrite earlier lines, nor reorder what the operator reads.
 * Anything else is printed as it is (ordinary text is unchanged).
 */
export const printable = (s: string): string => {
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!unsafeInText(c)) continue;
    out += `${s.slice(from, i)}\\u${c.toString(16).padStart(4, '0')}`;
    from = i + 1;
  }
  return from === 0 ? s : out + s.slice(from);
};

/** Printable, and at most `max` characters shown (the rest counted, not echoed). */
export const shown = (s: string, max = 200): string => (s.length <= max ? printable(s) : `${printable(s.slice(0, max))}… (${s.length - max} more characters)`);

/**
 * A remedy's sentence (`sentence`: keyledger's own prose, naming IDs, thumbprints and commands) is bounded here, not
 * at 200: cut short, the one thing the operator must read to act would end mid-sentence.
 */
const SENTENCE_MAX = 2000;

/**
 * Every string of a plain value (and every key of its records) made `shown`: what a text renderer interpolates
 * can then neither forge a line nor flood the terminal, whatever the store held. Other values pass as they are.
 */
export const shownDeep = <T>(v: T, max = 200): T => {
  if (typeof v === 'string') return shown(v, max) as T;
  if (Array.isArray(v)) return v.map((x) => shownDeep(x, max)) as T;
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v))
      out[shown(k, max)] = k === 'sentence' && typeof x === 'string' ? shown(x, Math.max(max, SENTENCE_MAX)) : shownDeep(x, max);
    return out as T;
  }
  return v;
};

export const NAME_MAX = 128;

/**
 * Why a name (machine, instance, service identity, actor) is not accepted — never echoing it — or undefined:
 * 1–128 characters, not blank, no control, bidi or line-separator character.
 */
export const nameProblem = (s: string, max = NAME_MAX): string | undefined => {
  if (s.trim().length === 0) return 'is empty';
  if (s.length > max) return `is ${s.length} characters long (at most ${max})`;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (unsafeInText(c)) return `has a control or formatting character (U+${c.toString(16).toUpperCase().padStart(4, '0')}) at position ${i + 1}`;
  }
  return undefined;
};

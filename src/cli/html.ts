/**
 * HTML built so that stored text cannot become markup: the `html` tag escapes every value it interpolates (`&`, `<`,
 * `>`, `"`, `'`) unless the value is itself `Html` built by this tag. A machine named `<script>` is text wherever it
 * is put, in an element or in a quoted attribute. Control, bidi and line-separator characters are shown as `\uXXXX`
 * (`printable`), so stored text cannot reorder what a reviewer reads either.
 */
import { printable } from '../domain/text';

/** A piece of HTML this module built (never from stored text unescaped). */
export class Html {
  constructor(readonly text: string) {}
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

type Value = Html | string | number | boolean | null | undefined | ReadonlyArray<Value>;

const render = (v: Value): string => {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(printable(String(v)));
};

/** A template whose interpolations are escaped (arrays joined, `Html` kept as it is, null / undefined / false left out). */
export const html = (strings: TemplateStringsArray, ...values: ReadonlyArray<Value>): Html =>
  new Html(strings.reduce((acc, s, i) => acc + s + (i < values.length ? render(values[i] as Value) : ''), ''));

/** A constant of this code base (a style sheet) taken as HTML: never for text from the store or the command line. */
export const constantHtml = (s: string): Html => new Html(s);

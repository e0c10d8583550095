/**
 * io-ts validation errors, read once: where each failure is (the path of named
 * fields), the type declared for that field (e.g. the whole union), the
 * innermost type that failed, and whether the value was missing. Renderers
 * decide what to show; the domain's never shows the value (it could be key
 * material in a malformed event).
 */
import type * as t from 'io-ts';

export interface DecodeProblem {
  /** `data.publicKey.n`; '' when the value itself failed. */
  readonly path: string;
  /** The type declared for the innermost named field, if any. */
  readonly declared: string | undefined;
  /** The innermost type that failed (for a union: the last alternative tried). */
  readonly innermost: string;
  readonly missing: boolean;
  readonly value: unknown;
}

export const decodeProblems = (errors: t.Errors): ReadonlyArray<DecodeProblem> =>
  errors.map((e) => {
    const named = e.context.filter((c) => c.key !== '' && !/^\d+$/.test(c.key));
    return {
      path: named.map((c) => c.key).join('.'),
      declared: named[named.length - 1]?.type.name,
      innermost: e.context[e.context.length - 1]?.type.name ?? 'a valid value',
      missing: e.value === undefined,
      value: e.value,
    };
  });

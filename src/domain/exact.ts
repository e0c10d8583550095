/**
 * What `decode` of an exact codec would strip: whether a value that a codec's `is` accepts carries members an
 * exact codec in it does not define. With it, a reader can take an event that already has its decoded shape as
 * it is (no copy: a fleet's catch-up reads millions), and decode only the rest — with the same result.
 */
import * as t from 'io-ts';

/** Custom codecs (new t.Type) whose members are those of another codec's: see `membersAs`. */
const membersOf = new WeakMap<t.Mixed, t.Mixed>();

/** Declares that a custom codec's values have the members of `inner` (its `is` is `inner.is`). */
export const membersAs = <C extends t.Mixed>(custom: C, inner: t.Mixed): C => {
  membersOf.set(custom, inner);
  return custom;
};

const propsCache = new WeakMap<t.Mixed, Readonly<Record<string, t.Mixed>> | undefined>();

/** The members a codec defines (merged through intersections), computed once per codec. */
const propsOf = (codec: t.Mixed): Readonly<Record<string, t.Mixed>> | undefined => {
  if (propsCache.has(codec)) return propsCache.get(codec);
  const props = membersDefined(codec);
  propsCache.set(codec, props);
  return props;
};

const membersDefined = (codec: t.Mixed): Readonly<Record<string, t.Mixed>> | undefined => {
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType) return codec.props as Record<string, t.Mixed>;
  if (codec instanceof t.ExactType || codec instanceof t.RefinementType || codec instanceof t.ReadonlyType) return propsOf(codec.type);
  if (codec instanceof t.IntersectionType) {
    const all: Record<string, t.Mixed> = {};
    for (const c of codec.types as t.Mixed[]) {
      const p = propsOf(c);
      if (p === undefined) return undefined;
      Object.assign(all, p);
    }
    return all;
  }
  return undefined;
};

/** A compiled check: whether a value has members an exact codec does not define (null: nothing to check there). */
type Check = ((u: unknown) => boolean) | null;

const compiled = new WeakMap<t.Mixed, Check>();

const compile = (codec: t.Mixed): Check => {
  if (compiled.has(codec)) return compiled.get(codec)!;
  compiled.set(codec, (u) => check(codec, u)); // a codec that refers to itself checks through this until compiled
  const c = compileNow(codec);
  compiled.set(codec, c);
  return c;
};

const check = (codec: t.Mixed, u: unknown): boolean => {
  const c = compile(codec);
  return c !== null && u !== null && typeof u === 'object' && c(u);
};

const membersCheck = (props: Readonly<Record<string, t.Mixed>>): Check => {
  const checks = Object.entries(props)
    .map(([k, c]) => [k, compile(c)] as const)
    .filter((x): x is readonly [string, (u: unknown) => boolean] => x[1] !== null);
  if (checks.length === 0) return null;
  return (u) => {
    for (const [k, c] of checks) {
      const v = (u as Record<string, unknown>)[k];
      if (v !== undefined && v !== null && typeof v === 'object' && c(v)) return true;
    }
    return false;
  };
};

const compileNow = (codec: t.Mixed): Check => {
  const custom = membersOf.get(codec);
  if (custom !== undefined) return compile(custom);
  if (codec instanceof t.ExactType) {
    const props = propsOf(codec.type);
    if (props === undefined) return () => true;
    const inner = compile(codec.type);
    return (u) => {
      for (const k in u as object) if (!Object.hasOwn(props, k)) return true;
      return inner?.(u) === true;
    };
  }
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType) return membersCheck(codec.props as Record<string, t.Mixed>);
  if (codec instanceof t.IntersectionType) {
    const checks = (codec.types as t.Mixed[]).map(compile).filter((c): c is (u: unknown) => boolean => c !== null);
    return checks.length === 0 ? null : (u) => checks.some((c) => c(u));
  }
  if (codec instanceof t.UnionType) {
    const members = (codec.types as t.Mixed[]).map((c) => [c, compile(c)] as const);
    if (members.every(([, c]) => c === null)) return null;
    return (u) => {
      const member = members.find(([c]) => c.is(u));
      return member === undefined || member[1]?.(u) === true;
    };
  }
  if (codec instanceof t.RefinementType || codec instanceof t.ReadonlyType) return compile(codec.type);
  if (codec instanceof t.ArrayType || codec instanceof t.ReadonlyArrayType) {
    const item = compile(codec.type as t.Mixed);
    return item === null ? null : (u) => Array.isArray(u) && u.some((x) => x !== null && typeof x === 'object' && item(x));
  }
  if (codec instanceof t.DictionaryType) {
    const value = compile(codec.codomain as t.Mixed);
    return value === null ? null : (u) => Object.values(u as object).some((x) => x !== null && typeof x === 'object' && value(x));
  }
  // Codecs that keep every member (decoding copies nothing out) and scalars: nothing to strip.
  if (
    codec instanceof t.AnyDictionaryType ||
    codec instanceof t.UnknownType ||
    codec instanceof t.LiteralType ||
    codec instanceof t.StringType ||
    codec instanceof t.NumberType ||
    codec instanceof t.BooleanType ||
    codec instanceof t.NullType ||
    codec instanceof t.KeyofType
  )
    return null;
  return () => true; // an unknown kind of codec: the caller decodes, which is always right
};

/**
 * Whether `u` (which `codec.is` accepts) has a member that an exact codec in `codec` does not define. Unknown
 * kinds of codec answer true: the caller then decodes, which is always right. Compiled once per codec.
 */
export const hasUndefinedMembers = (codec: t.Mixed, u: unknown): boolean => check(codec, u);

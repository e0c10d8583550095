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

const propsOf = (codec: t.Mixed): Readonly<Record<string, t.Mixed>> | undefined => {
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

/**
 * Whether `u` (which `codec.is` accepts) has a member that an exact codec in `codec` does not define. Unknown
 * kinds of codec answer true: the caller then decodes, which is always right.
 */
export const hasUndefinedMembers = (codec: t.Mixed, u: unknown): boolean => {
  if (u === null || typeof u !== 'object') return false;
  const custom = membersOf.get(codec);
  if (custom !== undefined) return hasUndefinedMembers(custom, u);
  if (codec instanceof t.ExactType) {
    const props = propsOf(codec.type);
    if (props === undefined) return true;
    for (const k of Object.keys(u)) if (!Object.hasOwn(props, k)) return true;
    return hasUndefinedMembers(codec.type, u);
  }
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType) {
    for (const [k, c] of Object.entries(codec.props as Record<string, t.Mixed>)) {
      const v = (u as Record<string, unknown>)[k];
      if (v !== undefined && hasUndefinedMembers(c, v)) return true;
    }
    return false;
  }
  if (codec instanceof t.IntersectionType) return (codec.types as t.Mixed[]).some((c) => hasUndefinedMembers(c, u));
  if (codec instanceof t.UnionType) {
    const member = (codec.types as t.Mixed[]).find((c) => c.is(u));
    return member === undefined || hasUndefinedMembers(member, u);
  }
  if (codec instanceof t.RefinementType || codec instanceof t.ReadonlyType) return hasUndefinedMembers(codec.type, u);
  if (codec instanceof t.ArrayType || codec instanceof t.ReadonlyArrayType)
    return Array.isArray(u) && u.some((x) => hasUndefinedMembers(codec.type as t.Mixed, x));
  if (codec instanceof t.DictionaryType) return Object.values(u).some((x) => hasUndefinedMembers(codec.codomain as t.Mixed, x));
  // Codecs that keep every member (decoding copies nothing out) and scalars: nothing to strip.
  return !(
    codec instanceof t.AnyDictionaryType ||
    codec instanceof t.UnknownType ||
    codec instanceof t.LiteralType ||
    codec instanceof t.StringType ||
    codec instanceof t.NumberType ||
    codec instanceof t.BooleanType
  );
};

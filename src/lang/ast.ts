/**
 * The parsed form of a query (docs/design.md#queries, docs/language.md): a `Selector` picks
 * where a scan starts (`all`, `match`, `from`) and `Constraint`s bound it (`limit`, `to`).
 * A `Statement` is plain data: it is also the query's wire form, sent as MessagePack.
 *
 * Several conditions (`WHERE a=1 AND b!=2 AND c IN (x, y*)`) are the optional `where` list
 * of {@link Predicate}s, which every result meets. A query the original language could
 * write (one `WHERE f=v`, or FROM/TO alone) is parsed to the original form, without
 * `where`, so it means and sends exactly what it did before.
 */

/** The indexed fields. `meta` needs a `key`. */
export type FieldName = 'host' | 'peer' | 'server' | 'meta'

/** Names one index and a value in it. */
export interface Index {
  field: FieldName
  /** The meta key, present exactly when `field` is `meta`. */
  key?: string
  value: string
  /** `f=v*`: every value that starts with `value` (with `value` empty: the field is present). */
  prefix: boolean
}

export type Selector =
  /** Every record, ordered by peer. */
  | { kind: 'all' }
  /** `WHERE f=v` / `WHERE f=v*`. */
  | { kind: 'match'; index: Index }
  /** `FROM f=v`: records with `f ≥ v`, in `f` order. */
  | { kind: 'from'; index: Index }

/** One value of a predicate: `v`, or with `prefix` every value starting with `v` (`v*`). */
export interface Pattern {
  value: string
  /** `v*`; with `value` empty (`*`): any value at all. */
  prefix: boolean
}

/**
 * One condition of `WHERE`. A record lacking the field (empty host, missing meta key) never
 * meets `eq` or `in`, and always meets `ne`: `f!=v` is exactly "not f=v", so `f!=*` means
 * the field is absent.
 */
export type Predicate =
  /** `f=v`, `f=v*`, `f=*` (present). */
  | { kind: 'eq'; index: Index }
  /** `f!=v`, `f!=v*`, `f!=*` (absent). */
  | { kind: 'ne'; index: Index }
  /** `f IN (v1, v2*, …)`: any of the patterns (at least one). `key` exactly when `field` is `meta`. */
  | { kind: 'in'; field: FieldName; key?: string; values: Pattern[] }

export type Constraint =
  /** `LIMIT n`: the first n records of the final order; n a whole number ≥ 1. */
  | { kind: 'limit'; n: number }
  /** `TO f=v` (inclusive upper bound; with `prefix`, also every value starting with v). */
  | { kind: 'to'; index: Index }

export interface Statement {
  /** `ls` streams every match; `lookup` yields the first match or nothing. */
  op: 'ls' | 'lookup'
  selector: Selector
  constraints: Constraint[]
  /** `REVERSE`: the same records in the opposite order. */
  reverse: boolean
  /**
   * `WHERE p1 AND p2 …` (at least one predicate), when the query is more than one `WHERE f=v`:
   * then `selector` is `all` or `from` (never `match`), and no predicate names the field of
   * FROM/TO. Absent: no conditions beyond the selector.
   *
   * Order of the results: by the field of a `match`/`from` selector, else of the first TO,
   * else of the first predicate (a record lacking that field sorts before every value), else
   * by peer; ties by peer.
   */
  where?: Predicate[]
}

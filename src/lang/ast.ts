/**
 * The parsed form of a query (docs/design.md#queries, docs/language.md): a `Selector` picks
 * where a scan starts (`all`, `match`, `from`) and `Constraint`s bound it (`limit`, `to`).
 * A `Statement` is plain data: it is also the query's wire form, sent as MessagePack.
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
}

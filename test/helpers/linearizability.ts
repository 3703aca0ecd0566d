/**
 * A linearizability checker for histories of operations on independent keys, each key a
 * register of integers (get, set, incr, compareAndSet, delete), after Wing and Gong's search with
 * Lowe's memoization: linearize, in real-time order, any operation whose call precedes every
 * pending return; backtrack when a return comes before its operation was linearized; never
 * explore twice the same (set of linearized operations, register value).
 *
 * An operation that failed or timed out may or may not have taken effect: it gets no return
 * (it may be linearized anywhere after its call, or never) and its result constrains nothing.
 */

export type KeyOp =
  | { name: 'get' }
  | { name: 'set', value: number }
  | { name: 'incr', by: number }
  | { name: 'compareAndSet', expected: number | undefined, next: number }
  | { name: 'delete' }

export interface Operation {
  key: string
  op: KeyOp
  /** When the call was made; any clock shared by every caller (monotonic ns, for instance). */
  invoke: number
  /** When its answer came; undefined when it failed or timed out ("maybe applied"). */
  response?: number
  /** The answer (undefined for set, and for a get of a missing key). */
  result?: unknown
}

export interface Verdict {
  ok: boolean
  /** Keys whose history is not linearizable. */
  violations: string[]
  /** Searches given up after the step budget (neither proven nor refuted). */
  undecided: string[]
}

type Value = number | undefined

/** The register's next value, or `false` when a known result contradicts the state. */
function step (state: Value, operation: Operation): { ok: boolean, next: Value } {
  const known = operation.response !== undefined
  const { op, result } = operation
  switch (op.name) {
    case 'get': return { ok: !known || result === state, next: state }
    case 'set': return { ok: true, next: op.value }
    case 'incr': {
      const next = (state ?? 0) + op.by
      return { ok: !known || result === next, next }
    }
    case 'compareAndSet': {
      const swapped = state === op.expected
      return { ok: !known || result === swapped, next: swapped ? op.next : state }
    }
    case 'delete': return { ok: !known || result === (state !== undefined), next: undefined }
  }
}

interface Entry {
  /** Index of the operation. */
  id: number
  call: boolean
  time: number
  match: Entry | undefined
  prev: Entry | undefined
  next: Entry | undefined
}

/** The call and return entries of `ops` in time order, as a doubly linked list after a sentinel. */
function entryList (ops: Operation[]): Entry {
  const entries: Entry[] = []
  ops.forEach((operation, id) => {
    const call: Entry = { id, call: true, time: operation.invoke, match: undefined, prev: undefined, next: undefined }
    const ret: Entry = { id, call: false, time: operation.response ?? Infinity, match: undefined, prev: undefined, next: undefined }
    call.match = ret
    entries.push(call, ret)
  })
  // At equal times a call goes first: the two operations count as concurrent, never as ordered.
  entries.sort((a, b) => a.time - b.time || (a.call === b.call ? 0 : a.call ? -1 : 1))
  const head: Entry = { id: -1, call: false, time: -Infinity, match: undefined, prev: undefined, next: undefined }
  let last = head
  for (const entry of entries) {
    last.next = entry
    entry.prev = last
    last = entry
  }
  return head
}

function lift (entry: Entry): void {
  const ret = entry.match as Entry
  ;(entry.prev as Entry).next = entry.next
  if (entry.next !== undefined) entry.next.prev = entry.prev
  ;(ret.prev as Entry).next = ret.next
  if (ret.next !== undefined) ret.next.prev = ret.prev
}

function unlift (entry: Entry): void {
  const ret = entry.match as Entry
  ;(ret.prev as Entry).next = ret
  if (ret.next !== undefined) ret.next.prev = ret
  ;(entry.prev as Entry).next = entry
  if (entry.next !== undefined) entry.next.prev = entry
}

/** One key's history: true, false, or undefined when `budget` search steps did not settle it. */
export function checkKey (ops: Operation[], budget = 2_000_000): boolean | undefined {
  const head = entryList(ops)
  const linearized = new Uint8Array(ops.length)
  const seen = new Set<string>()
  const stack: Array<{ entry: Entry, state: Value }> = []
  let state: Value
  let entry = head.next
  let steps = 0
  while (head.next !== undefined) {
    if (++steps > budget) return undefined
    if (entry === undefined) return false // unreachable: a return always ends a failed pass
    if (entry.call) {
      const { ok, next } = step(state, ops[entry.id] as Operation)
      if (ok) {
        linearized[entry.id] = 1
        const memo = `${String(next)}|${linearized.join('')}`
        if (!seen.has(memo)) {
          seen.add(memo)
          stack.push({ entry, state })
          state = next
          lift(entry)
          entry = head.next
          continue
        }
        linearized[entry.id] = 0
      }
      entry = entry.next
    } else {
      // The earliest pending return belongs to an operation not yet linearized: undo the last choice.
      const top = stack.pop()
      if (top === undefined) return false
      linearized[top.entry.id] = 0
      state = top.state
      unlift(top.entry)
      entry = top.entry.next
    }
  }
  return true
}

/** Checks every key of a history on its own: a history of independent keys is linearizable iff each key's is. */
export function checkHistory (ops: Operation[], budget?: number): Verdict {
  const byKey = new Map<string, Operation[]>()
  for (const operation of ops) {
    const list = byKey.get(operation.key)
    if (list === undefined) byKey.set(operation.key, [operation])
    else list.push(operation)
  }
  const violations: string[] = []
  const undecided: string[] = []
  for (const [key, list] of byKey) {
    const verdict = checkKey(list, budget)
    if (verdict === false) violations.push(key)
    else if (verdict === undefined) undecided.push(key)
  }
  return { ok: violations.length === 0 && undecided.length === 0, violations, undecided }
}

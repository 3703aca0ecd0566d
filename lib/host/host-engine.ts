import { setImmediate as nextTurn } from 'node:timers/promises'
import { isSharedStateError } from '../errors'
import type { ValueCodec } from '../protocol/codec'
import { OPS } from '../protocol/messages'
import type { LockAcquireOptions, PersistDescription } from '../store/store'
import { LockTable, type HeldLock } from '../store/memory/lock-table'
import { MemoryStore } from '../store/memory/memory-store'
import { MemoryState, type StateSnapshot } from '../store/memory/state'
import { AppliedReplies, type Reply } from './applied-replies'
import { OpMeter } from './op-meter'

/** Everything a new host needs to carry on where the old one stopped. */
export interface EngineSnapshot {
  state: StateSnapshot
  tokens: Array<[string, number]>
  holders: HeldLock[]
  applied: Array<[string, number, Reply]>
}

/**
 * Where changes go to become durable (see host/persistence). `commit()` resolves once every change
 * recorded so far is as durable as the policy promises; the engine awaits it before sending any
 * reply, a read's too, since a read can show a change that a crash would then undo.
 */
export interface Journal {
  record: (record: readonly unknown[]) => void
  /** The reply to request `id` of `clientId`: ends the request's changes, logged with it. */
  applied: (clientId: string, id: number, reply: Reply) => void
  /** Resolves once what was recorded is durable; undefined when nothing recorded waits for it. */
  commit: () => Promise<void> | undefined
  /** Why the log stopped, once it has: from then on every mutation is refused before it runs. */
  readonly failure: Error | undefined
  describe: () => PersistDescription
  close: () => Promise<void>
}

const OK = 0
const ERROR = 1

/**
 * The host's state, locks and memory of applied mutations, with one way in for every request:
 * `execute`. Remote peers and the host's own worker both come through it, so deduplication,
 * durability and the lock table behave the same whoever asks.
 */
export class HostEngine {
  readonly state: MemoryState
  readonly locks: LockTable
  readonly applied = new AppliedReplies()
  readonly meter = new OpMeter()
  #journal: Journal | undefined

  /** `state`: a map restored already (a handover's, restored as its parts arrived). */
  constructor (codec: ValueCodec, state?: MemoryState) {
    this.state = state ?? new MemoryState(codec)
    // A new host does not know the tokens an earlier host granted (after a crash, without
    // persistence); starting each lock's count from the clock in µs keeps every new token above
    // them, as long as no host granted a lock more than a thousand times a millisecond.
    this.locks = new LockTable(() => Date.now() * 1000)
  }

  set journal (journal: Journal | undefined) {
    this.#journal = journal
  }

  get journal (): Journal | undefined {
    return this.#journal
  }

  /** The state as seen by one owner (a client id): its locks are dropped when it goes. */
  storeFor (owner: string): MemoryStore {
    return new MemoryStore(this.state, this.locks, owner)
  }

  /**
   * Runs request `id` of `store.owner` and returns the reply: at once for the ops the memory store
   * answers synchronously (all but a lock wait) while nothing logged waits for the disk, so a busy
   * host allocates no promise per op. A mutation this client already had applied (a retry after
   * its host went away) gets the first reply again, not a second effect. Id 0 is the host worker's
   * own call, never retried and so not remembered.
   */
  execute (store: MemoryStore, id: number, op: number, args: unknown[]): Reply | Promise<Reply> {
    const spec = OPS[op]
    if (spec === undefined) return [ERROR, 'FST_SHARED_STATE_PROTOCOL', `op ${op} is not allowed`]
    this.meter.count(op)
    if (spec.mutates) {
      // A change the log cannot keep is not made: refused now, a retry cannot count twice.
      const stopped = this.#journal?.failure
      if (stopped !== undefined) return failure(stopped)
    }
    const remembered = spec.mutates && id !== 0
    if (remembered) {
      const earlier = this.applied.get(store.owner, id)
      if (earlier !== undefined) return this.#whenDurable(earlier)
    }
    let result: unknown
    try {
      result = run(store, spec.name, args)
    } catch (error) {
      return this.#settle(store, id, remembered, failure(error))
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => this.#settle(store, id, remembered, [OK, value]),
        (error) => this.#settle(store, id, remembered, failure(error)))
    }
    return this.#settle(store, id, remembered, [OK, result])
  }

  /** Remembers and logs the reply of a mutation, in the same turn as its change. */
  #settle (store: MemoryStore, id: number, remembered: boolean, reply: Reply): Reply | Promise<Reply> {
    if (remembered) {
      this.applied.remember(store.owner, id, reply)
      this.#journal?.applied(store.owner, id, reply)
    }
    return this.#whenDurable(reply)
  }

  /**
   * Holds a reply, whatever the op, until every change logged so far is as durable as the policy
   * promises: a reply may show any of them (a read of a changed key, a replayed first answer).
   * Replies held for one fsync are released in the order they were made.
   */
  #whenDurable (reply: Reply): Reply | Promise<Reply> {
    const durable = this.#journal?.commit()
    if (durable === undefined) return reply
    return durable.then(() => reply, (error) => {
      // Applied in memory but maybe not durable: the caller must not take it as acknowledged.
      if (!isSharedStateError(error)) throw error
      return [ERROR, error.code, error.message] as const
    })
  }

  /** With `entries: false`, the state's entries are left out (a caller walks `state.snapshotParts`). */
  snapshot (options: { entries: boolean } = { entries: true }): EngineSnapshot {
    return {
      state: options.entries ? this.state.snapshot() : { entries: [], clock: this.state.clock },
      tokens: this.locks.tokens(),
      holders: this.locks.held(),
      applied: this.applied.entries()
    }
  }

  restore (snapshot: EngineSnapshot): void {
    this.state.restore(snapshot.state)
    drain(this.state.restoreParts(snapshot.state.parts ?? []))
    this.#restoreRest(snapshot)
  }

  /**
   * As `restore`, with a turn of the event loop after each binary part, so a large state never
   * holds the loop; `progress` hears the keys restored so far after each part.
   */
  async restoreInTurns (snapshot: EngineSnapshot, progress?: (keys: number) => void): Promise<void> {
    this.state.restore(snapshot.state)
    await this.restorePartsInTurns(snapshot.state.parts ?? [], progress)
    this.#restoreRest(snapshot)
  }

  /** Restores binary entry parts a step per turn, reporting the keys held after each. */
  async restorePartsInTurns (parts: readonly Uint8Array[], progress?: (keys: number) => void): Promise<void> {
    const steps = this.state.restoreParts(parts)
    while (steps.next().done !== true) {
      progress?.(this.state.size)
      await nextTurn()
    }
  }

  #restoreRest (snapshot: EngineSnapshot): void {
    this.locks.restoreTokens(snapshot.tokens)
    this.locks.restoreHolders(snapshot.holders)
    for (const [clientId, id, reply] of snapshot.applied) this.applied.remember(clientId, id, reply)
  }

  close (error: Error): void {
    this.meter.close()
    this.applied.close()
    this.locks.close(error)
    this.state.close()
  }
}

function run (store: MemoryStore, name: string, args: unknown[]): unknown {
  if (name === 'acquireLock' || name === 'acquireLockUntil') {
    const options: LockAcquireOptions = { timeout: args[1] as number, ttl: args[2] as number, deadline: args[3] as number | undefined }
    return store.acquireLock(args[0] as string, options)
  }
  if (name === 'acquireLockReading') {
    const options: LockAcquireOptions = { timeout: args[1] as number, ttl: args[2] as number, deadline: args[3] as number }
    return store.acquireLockReading(args[0] as string, options, args[5] as string[], args[4] as number)
  }
  const method = store[name as keyof MemoryStore] as (...a: unknown[]) => unknown
  return method.apply(store, args)
}

/** Errors this package raises become error replies; anything else is a bug and propagates. */
function failure (error: unknown): Reply {
  if (!isSharedStateError(error)) throw error
  return [ERROR, error.code, error.message]
}

/** Runs a generator to its end, for a caller that does not yield in between. */
function drain (steps: Iterator<unknown>): void {
  while (steps.next().done !== true);
}

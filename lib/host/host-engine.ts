import { isSharedStateError } from '../errors'
import type { ValueCodec } from '../protocol/codec'
import { OPS } from '../protocol/messages'
import type { LockAcquireOptions } from '../store/store'
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
 * recorded so far is as durable as the policy promises; the engine awaits it before answering a
 * mutation.
 */
export interface Journal {
  record: (record: readonly unknown[]) => void
  commit: () => Promise<void>
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

  constructor (codec: ValueCodec) {
    this.state = new MemoryState(codec)
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
   * Runs request `id` of `store.owner` and returns the reply. A mutation this client already had
   * applied (a retry after its host went away) gets the first reply again, not a second effect.
   * Id 0 is the host worker's own call, which is never retried and so not remembered.
   */
  async execute (store: MemoryStore, id: number, op: number, args: unknown[]): Promise<Reply> {
    const spec = OPS[op]
    if (spec === undefined) return [ERROR, 'FST_SHARED_STATE_PROTOCOL', `op ${op} is not allowed`]
    this.meter.count(op)
    const remembered = spec.mutates && id !== 0
    if (remembered) {
      const earlier = this.applied.get(store.owner, id)
      if (earlier !== undefined) return earlier
    }
    let reply: Reply
    try {
      reply = [OK, await run(store, spec.name, args)]
    } catch (error) {
      if (!isSharedStateError(error)) throw error
      reply = [ERROR, error.code, error.message]
    }
    if (remembered) {
      this.applied.remember(store.owner, id, reply)
      this.#journal?.record(['applied', store.owner, id, reply])
    }
    if (spec.mutates && this.#journal !== undefined) {
      try {
        await this.#journal.commit()
      } catch (error) {
        // Applied in memory but not durable: the caller must not take it as acknowledged.
        if (!isSharedStateError(error)) throw error
        return [ERROR, error.code, error.message]
      }
    }
    return reply
  }

  snapshot (): EngineSnapshot {
    return {
      state: this.state.snapshot(),
      tokens: this.locks.tokens(),
      holders: this.locks.held(),
      applied: this.applied.entries()
    }
  }

  restore (snapshot: EngineSnapshot): void {
    this.state.restore(snapshot.state)
    this.locks.restoreTokens(snapshot.tokens)
    this.locks.restoreHolders(snapshot.holders)
    for (const [clientId, id, reply] of snapshot.applied) this.applied.remember(clientId, id, reply)
  }

  close (error: Error): void {
    this.meter.close()
    this.locks.close(error)
    this.state.close()
  }
}

function run (store: MemoryStore, name: string, args: unknown[]): Promise<unknown> {
  if (name === 'acquireLock') {
    const options: LockAcquireOptions = { timeout: args[1] as number, ttl: args[2] as number }
    return store.acquireLock(args[0] as string, options)
  }
  const method = store[name as keyof MemoryStore] as (...a: unknown[]) => Promise<unknown>
  return method.apply(store, args)
}

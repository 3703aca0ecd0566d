import { opCode, PUSH_CHANGE, PUSH_ID, PUSH_OVERFLOW } from '../protocol/messages'
import type { MemoryStore } from '../store/memory/memory-store'
import type { ChangeEvent, PersistDescription } from '../store/store'
import type { Reply } from './applied-replies'
import type { HostEngine } from './host-engine'

/**
 * Sends a pushed message to the session's worker. Unless `always`, a worker that has fallen too
 * far behind is not sent it, and false comes back.
 */
export type PushSink = (message: unknown[], always?: boolean) => boolean

const PING = opCode('ping')
const WATCH = opCode('watch')
const WATCH_AS = opCode('watchAs')
const UNWATCH = opCode('unwatch')
const BYE = opCode('bye')
const STATS = opCode('stats')
const DESCRIBE_KEYS = opCode('describeKeys')
// A page of the inspect command's key list stays this small, whatever the keys' lengths.
const DESCRIBE_PAGE_BYTES = 1024 * 1024

/** The host as its workers and the inspect command see it. */
export interface HostDescription {
  pid: number
  workers: Array<{ clientId: string, pid: number }>
  keys: number
  opsPerSecond: Record<string, number>
  locks: { held: number, waiting: number, waits: number }
  lockList: Array<{ name: string, owner: string | null, token: number, waiting: number }>
  /** The change log, when the host persists. */
  persist: PersistDescription | null
}

/**
 * One worker's session on the host, whether it arrived over a socket or is the host's own worker:
 * its owner identity for locks, its watches, and the ops that concern the session rather than the
 * state (ping, watch, unwatch, bye). Everything else goes to the engine.
 */
export class HostSession {
  readonly store: MemoryStore
  readonly #engine: HostEngine
  readonly #push: PushSink
  readonly #describeHost: () => HostDescription
  readonly #watches = new Map<number, () => void>()
  #nextWatchId = 1

  constructor (engine: HostEngine, owner: string, push: PushSink, describeHost: () => HostDescription) {
    this.#engine = engine
    this.store = engine.storeFor(owner)
    this.#push = push
    this.#describeHost = describeHost
  }

  get owner (): string {
    return this.store.owner
  }

  handle (id: number, op: number, args: unknown[]): Reply | Promise<Reply> {
    switch (op) {
      case PING: return [0, null]
      case WATCH: return [0, this.#watch(args[0] as string, this.#freeWatchId())]
      case WATCH_AS: return [0, this.#watch(args[0] as string, args[1] as number)]
      case UNWATCH: return [0, this.#unwatch(args[0] as number)]
      case BYE:
        this.#engine.applied.forget(this.owner)
        return [0, null]
      case STATS: return [0, this.#describeHost()]
      case DESCRIBE_KEYS: {
        const page = this.#engine.state.describePage(args[0] as string, args[1] as string, args[2] as number, DESCRIBE_PAGE_BYTES)
        return [0, [page.cursor, page.items]]
      }
      default: return this.#engine.execute(this.store, id, op, args)
    }
  }

  /** The worker's connection is gone: its watches stop, its locks pass on, its waits are dropped. */
  detach (): void {
    this.#stopWatches()
    this.store.detach()
  }

  /**
   * The worker reconnected and this connection was replaced: its watches stop and its lock waits
   * leave (the worker resends them), while the worker keeps its locks.
   */
  retire (): void {
    this.#stopWatches()
    this.store.retire()
  }

  /** The host worker itself is closing. */
  close (): void {
    this.#stopWatches()
  }

  /** Registers the watch before the reply goes out: it sees every change applied after it. */
  #watch (prefix: string, watchId: number): number {
    // The same id again (a re-watch the worker resent) replaces, never doubles, the watch.
    this.#unwatch(watchId)
    this.#watches.set(watchId, this.store.watch(prefix, (event) => this.#pushChange(watchId, event)))
    return watchId
  }

  /** An id for a watch the host names (the `watch` op), clear of ids the worker chose. */
  #freeWatchId (): number {
    while (this.#watches.has(this.#nextWatchId)) this.#nextWatchId++
    return this.#nextWatchId++
  }

  #unwatch (watchId: number): boolean {
    const stop = this.#watches.get(watchId)
    if (stop === undefined) return false
    this.#watches.delete(watchId)
    stop()
    return true
  }

  #pushChange (watchId: number, event: ChangeEvent): void {
    const accepted = this.#push([PUSH_ID, PUSH_CHANGE, watchId, event.type, event.key, event.value ?? null])
    if (!accepted) {
      // A watcher that does not read its socket must not grow the host's memory: its watch ends
      // and it is told it missed events.
      this.#unwatch(watchId)
      this.#push([PUSH_ID, PUSH_OVERFLOW, watchId], true)
    }
  }

  #stopWatches (): void {
    for (const stop of this.#watches.values()) stop()
    this.#watches.clear()
  }
}

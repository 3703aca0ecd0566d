import { SharedStateProtocolError } from '../errors'
import type { EngineSnapshot } from '../host/host-engine'
import type { HandoverField } from '../host/handover'
import type { MemoryState } from '../store/memory/state'

/** What the closing host says once the successor is prepared; 'lost' when its connection went. */
export type PortVerdict = 'free' | 'cancelled' | 'lost' | 'timeout'

/**
 * The state a closing host sends to the worker it chose as its successor, collected part by part
 * on one connection. A copy that is not complete is never used: when the connection goes first,
 * or the host cancels, it is dropped, so a later handover starts from nothing.
 */
export class IncomingHandover {
  /** The connection (HostLink generation) it arrives on; parts from any other are not ours. */
  readonly generation: number
  readonly snapshot: EngineSnapshot = { state: { entries: [], clock: 0, parts: [] }, tokens: [], holders: [], applied: [] }
  /** Set when a part could not be read: the copy must not be opened. */
  error: Error | undefined
  /** Bytes of entry parts received, for the log. */
  entryBytes = 0
  expected: string[] = []
  /** The closing host's workers were closing together with it. */
  together = false
  complete = false
  #verdict: PortVerdict | undefined
  #heard: ((verdict: PortVerdict) => void) | undefined

  /** Where the entries go as they arrive, when the worker can build a map: see `collect`. */
  readonly #state: MemoryState | undefined
  /** Keys restored so far, and when the first part came, for the log. */
  keys = 0
  readonly startedAt = Date.now()

  constructor (generation: number, state?: MemoryState) {
    this.generation = generation
    this.#state = state
    this.snapshot.state.restored = state
  }

  /**
   * The entries come as binary parts (entry-parts.ts). With a map to put them in, each part is
   * restored as it arrives, so the successor restores while the host is still sending; without,
   * they are kept as they are until the engine opens.
   */
  collect (field: HandoverField, items: unknown): void {
    if (field === 'entries') {
      if (!(items instanceof Uint8Array)) return this.#malformed('entries')
      this.entryBytes += items.length
      if (this.#state === undefined) {
        this.snapshot.state.parts?.push(items)
        return
      }
      try {
        for (const keys of this.#state.restoreParts([items])) this.keys += keys
      } catch (error) {
        this.error ??= error as Error
      }
      return
    }
    if (!Array.isArray(items)) return this.#malformed(field)
    const list: unknown[] = this.snapshot[field]
    for (const item of items) list.push(item)
  }

  /** A part that cannot be read spoils the copy: opening it fails, and the host tries another. */
  #malformed (field: HandoverField): void {
    this.error ??= new SharedStateProtocolError(`a handover part of ${field} is malformed`)
  }

  end (clock: number, expected: unknown, together: unknown): void {
    this.snapshot.state.clock = clock
    this.together = together === true
    this.expected = Array.isArray(expected) ? expected.filter((id): id is string => typeof id === 'string') : []
    this.complete = true
  }

  /** The host's answer after the successor said it is prepared. The first one counts. */
  hear (verdict: PortVerdict): void {
    this.#verdict ??= verdict
    this.#heard?.(this.#verdict)
  }

  waitForVerdict (timeout: number): Promise<PortVerdict> {
    if (this.#verdict !== undefined) return Promise.resolve(this.#verdict)
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.hear('timeout'), timeout)
      this.#heard = (verdict) => {
        clearTimeout(timer)
        this.#heard = undefined
        resolve(verdict)
      }
    })
  }
}

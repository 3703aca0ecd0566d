import type { EngineSnapshot } from '../host/host-engine'
import type { HandoverField } from '../host/handover'

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
  readonly snapshot: EngineSnapshot = { state: { entries: [], clock: 0 }, tokens: [], holders: [], applied: [] }
  expected: string[] = []
  /** The closing host's workers were closing together with it. */
  together = false
  complete = false
  #verdict: PortVerdict | undefined
  #heard: ((verdict: PortVerdict) => void) | undefined

  constructor (generation: number) {
    this.generation = generation
  }

  collect (field: HandoverField, items: unknown[]): void {
    const list: unknown[] = field === 'entries' ? this.snapshot.state.entries : this.snapshot[field]
    for (const item of items) list.push(item)
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

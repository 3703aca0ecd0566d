import { setImmediate as nextTurn } from 'node:timers/promises'
import { PUSH_HANDOVER, PUSH_HANDOVER_CANCEL, PUSH_HANDOVER_END, PUSH_ID, PUSH_PORT_FREE } from '../protocol/messages'
import type { HostEngine } from './host-engine'
import type { HandoverSignal, Peer } from './peer'

// A handover part carries entries up to this share of the frame limit; one entry always fits,
// since it once arrived in a frame of its own.
const HANDOVER_PART_SHARE = 0.5
// Per item, on top of what sizeOf counts: MessagePack headers, numbers, a reply.
const ITEM_OVERHEAD_BYTES = 48

/** What a handover part carries: one list of the engine's snapshot. */
export type HandoverField = 'entries' | 'tokens' | 'holders' | 'applied'

/**
 * How one handover ended. `declined`: the successor never got the port (it left, said it is
 * closing, or stayed silent), so the host may try another. `undecided`: the port was freed for
 * it and it did not confirm; it may serve the state, so no other worker may receive a copy.
 */
export type HandoverOutcome = 'taken' | 'declined' | 'undecided'

/** Sends `items` to the successor in parts that stay well inside its frame limit. */
function sendInParts<T> (successor: Peer, field: HandoverField, items: readonly T[], sizeOf: (item: T) => number): void {
  const limit = successor.maxFrameBytes * HANDOVER_PART_SHARE
  let part: T[] = []
  let bytes = 0
  for (const item of items) {
    const size = sizeOf(item) + ITEM_OVERHEAD_BYTES
    if (bytes + size > limit && part.length > 0) {
      successor.push([PUSH_ID, PUSH_HANDOVER, field, part])
      part = []
      bytes = 0
    }
    part.push(item)
    bytes += size
  }
  if (part.length > 0) successor.push([PUSH_ID, PUSH_HANDOVER, field, part])
}

export interface HandoverPlan {
  /** The frozen host's engine: nothing changes in it while it is handed over. */
  engine: HostEngine
  /** The other workers, which the successor waits for should it close in turn before they arrive. */
  expected: string[]
  /** Each step (prepare, bind) has this long; the whole is paced by progress, not one deadline. */
  stepTimeout: number
  /** Other workers close together with this host: the successor, closing soon, waits for new ones. */
  together: boolean
  /** Stops listening, so the successor can bind. */
  freePort: () => void
}

/**
 * One handover to one successor (see the exchange in protocol/messages.ts). The host listens
 * until the successor has opened the state, then frees the port for it alone.
 */
export class OutgoingHandover {
  readonly successor: Peer
  #portFreed = false
  #settle: ((signal: HandoverSignal | 'gone' | 'timeout') => void) | undefined
  #timer: NodeJS.Timeout | undefined

  constructor (successor: Peer) {
    this.successor = successor
  }

  /** A message from the successor, or 'gone' when its connection closed. */
  signal (signal: HandoverSignal | 'gone'): void {
    this.#settle?.(signal)
  }

  async run (plan: HandoverPlan): Promise<HandoverOutcome> {
    const { successor } = this
    // Armed before the first part, so a successor that leaves meanwhile is heard.
    const prepared = this.#next(plan.stepTimeout)
    const sent = await this.#sendState(plan)
    // The step's time counts from the last part: a large state is paced by its progress.
    if (this.#settle !== undefined) this.#timer?.refresh()
    const answer = sent ? await prepared : 'gone'
    if (answer !== 'prepared') {
      clearTimeout(this.#timer)
      // It must drop what it received: it will never be told the port is free.
      successor.push([PUSH_ID, PUSH_HANDOVER_CANCEL])
      return 'declined'
    }
    const bound = this.#next(plan.stepTimeout)
    plan.freePort()
    this.#portFreed = true
    successor.push([PUSH_ID, PUSH_PORT_FREE])
    const result = await bound
    return result === 'ready' ? 'taken' : 'undecided'
  }

  /**
   * The entries go a part at a time, with a turn of the event loop between parts, so a large state
   * never holds the loop. Resolves false once the successor is gone: it takes nothing more.
   */
  async #sendState (plan: HandoverPlan): Promise<boolean> {
    const { successor } = this
    const { engine } = plan
    for (const part of engine.state.snapshotParts(successor.maxFrameBytes * HANDOVER_PART_SHARE)) {
      if (!successor.push([PUSH_ID, PUSH_HANDOVER, 'entries', part])) return false
      await nextTurn()
    }
    const snapshot = engine.snapshot({ entries: false })
    sendInParts(successor, 'tokens', snapshot.tokens, ([name]) => name.length)
    sendInParts(successor, 'holders', snapshot.holders, ({ name, owner }) => name.length + owner.length)
    sendInParts(successor, 'applied', snapshot.applied, ([clientId]) => clientId.length)
    return successor.push([PUSH_ID, PUSH_HANDOVER_END, snapshot.state.clock, plan.expected, plan.together])
  }

  get portFreed (): boolean {
    return this.#portFreed
  }

  /** The successor's next answer; 'leaving' counts only while the port is still ours. */
  #next (timeout: number): Promise<HandoverSignal | 'gone' | 'timeout'> {
    return new Promise((resolve) => {
      const done = (signal: HandoverSignal | 'gone' | 'timeout'): void => {
        // Once the port is freed, a successor that is closing takes over all the same, and hands on.
        if (signal === 'leaving' && this.#portFreed) return
        clearTimeout(this.#timer)
        this.#settle = undefined
        resolve(signal)
      }
      this.#settle = done
      this.#timer = setTimeout(() => done('timeout'), timeout)
    })
  }
}

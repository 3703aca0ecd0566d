import { errorFromWire } from '../errors'
import type { HostSession } from '../host/host-session'

// A local call resolves in microtasks, so a loop of awaited calls in the host worker would never
// give the event loop a turn, and no other worker's request would be read. After this many calls
// in one turn, the next waits for the event loop to go round once.
const CALLS_PER_TURN = 256

/**
 * The host worker's own way in: requests go straight to its session on the engine, with no socket,
 * no encoding, no request id and no timer (the engine answers in the same process, and a lock wait
 * is timed by the lock table), and still through the same op dispatch a remote worker's take.
 */
export class LocalTransport {
  readonly #session: HostSession
  #callsThisTurn = 0
  #turnEnds: Promise<void> | undefined

  constructor (session: HostSession) {
    this.#session = session
  }

  async call (op: number, args: unknown[]): Promise<unknown> {
    if (this.#turnEnds === undefined) {
      this.#turnEnds = new Promise((resolve) => setImmediate(() => {
        this.#callsThisTurn = 0
        this.#turnEnds = undefined
        resolve()
      }))
    }
    if (++this.#callsThisTurn > CALLS_PER_TURN) await this.#turnEnds
    // Id 0: a local call is never retried, so the engine need not remember its reply.
    const reply = await this.#session.handle(0, op, args)
    if (reply[0] === 0) return reply[1]
    throw errorFromWire(reply[1], reply[2])
  }

  close (): void {
    this.#session.close()
  }
}

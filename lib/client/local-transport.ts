import type { HostSession } from '../host/host-session'
import type { Transport, TransportEvents } from './transport'

/**
 * The host worker's own way in: requests go straight to its session on the engine, with no socket
 * and no encoding, and still through the same op dispatch a remote worker's requests take.
 */
export class LocalTransport implements Transport {
  readonly #session: HostSession
  readonly #events: TransportEvents

  constructor (session: HostSession, events: TransportEvents) {
    this.#session = session
    this.#events = events
  }

  send (id: number, op: number, args: unknown[]): void {
    this.#session.handle(id, op, args).then(
      (reply) => this.#events.reply(id, reply[0], reply[1], reply[2]),
      (error: Error) => this.#events.lost(error))
  }

  close (): void {
    this.#session.close()
  }
}

import type { Socket } from 'node:net'

/**
 * Connections that arrive while a new host still opens its state (a large persist file, a
 * handover): held paused so a worker is served once the host is ready instead of timing out with
 * no greeting. None of them has authenticated yet, so they count against the same cap as pending
 * handshakes, and at the cap the oldest goes: a stranger flooding the port while the state loads
 * holds at most `limit` descriptors, and a worker arriving last still gets in.
 */
export class EarlyConnections {
  readonly #limit: number
  readonly #held: Socket[] = []

  constructor (limit: number) {
    this.#limit = Math.max(1, limit)
  }

  get size (): number {
    return this.#held.length
  }

  readonly hold = (socket: Socket): void => {
    socket.pause()
    this.#held.push(socket)
    if (this.#held.length > this.#limit) this.#held.shift()?.destroy()
  }

  /** Hands every connection still open to `adopt`, oldest first, and forgets them. */
  release (adopt: (socket: Socket) => void): void {
    for (const socket of this.#held.splice(0)) {
      if (!socket.destroyed) adopt(socket)
    }
  }

  destroyAll (): void {
    for (const socket of this.#held.splice(0)) socket.destroy()
  }
}

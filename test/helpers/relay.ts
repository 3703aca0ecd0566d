import { connect, createServer, type Server, type Socket } from 'node:net'
import { decode, encode } from '@msgpack/msgpack'
import { hostView, socketFileId, unixView } from '../../lib/connection-view'
import { FrameDecoder } from '../../lib/protocol/framing'
import { opCode } from '../../lib/protocol/messages'
import { frame } from './raw-peer'
import type { Teardown } from './teardown'

export type RelayEnd = { port: number } | { path: string }

/** The request a relay slips in, as a worker would send it: set `key` to 'forged'. */
export function forgedSet (key: string): Buffer {
  return frame([1_000_000, opCode('set'), key, encode('forged'), 0])
}

/**
 * A process in the middle, as a hostile local user would run one: it accepts workers on `from`
 * and pipes each to the host on `to`, recording every byte either way. It relays the handshake
 * faithfully, and once the host's second frame (its welcome) has gone to the worker, it slips
 * `inject` in towards the host, hoping the host takes it as the worker's. With `rewriteView`, it
 * replaces the host's view of the connection in the challenge by the worker's, so that the worker
 * does not notice and answers: the host then has to refuse the proof on its own.
 */
export class Relay {
  /** Every byte that crossed the relay, both ways. */
  captured = Buffer.alloc(0)
  /** Connections that reached the relay. */
  accepted = 0
  /** Bytes the workers sent through it. */
  fromWorkers = 0
  readonly #server: Server
  readonly #sockets = new Set<Socket>()

  private constructor (from: RelayEnd, to: RelayEnd, inject: Buffer, rewriteView: boolean) {
    this.#server = createServer((worker) => {
      this.accepted++
      const host = 'path' in to ? connect(to.path) : connect(to.port, '127.0.0.1')
      for (const socket of [worker, host]) {
        this.#sockets.add(socket)
        socket.on('error', () => {})
        socket.on('close', () => this.#sockets.delete(socket))
      }
      const fromHost = new FrameDecoder(Number.MAX_SAFE_INTEGER)
      let framesFromHost = 0
      worker.on('data', (chunk: Buffer) => {
        this.fromWorkers += chunk.length
        this.captured = Buffer.concat([this.captured, chunk])
        host.write(chunk)
      })
      // What the worker sees of its connection to the relay: what the relay shows it instead.
      const workerView = 'path' in from ? unixView(from.path, socketFileId(from.path)) : hostView(worker)
      let held = Buffer.alloc(0)
      host.on('data', (chunk: Buffer) => {
        this.captured = Buffer.concat([this.captured, chunk])
        const before = framesFromHost
        const frames = fromHost.push(chunk)
        framesFromHost += frames.length
        if (!rewriteView || before > 0) worker.write(chunk)
        else if (frames.length === 0) held = Buffer.concat([held, chunk])
        else {
          // The challenge came whole in `held` and `chunk`; anything after it goes on unchanged.
          const challenge = decode(frames[0] as Buffer) as unknown[]
          challenge[3] = workerView
          const rest = Buffer.concat([held, chunk]).subarray(4 + (frames[0] as Buffer).length)
          worker.write(Buffer.concat([frame(challenge), rest]))
        }
        if (before < 2 && framesFromHost >= 2) host.write(inject)
      })
      worker.on('close', () => host.destroy())
      host.on('close', () => worker.destroy())
    })
  }

  /**
   * Listens on `from` (a port, or a unix path, abstract when it starts with NUL); rejects with
   * the listen error (EADDRINUSE while someone else holds it). Closed by `teardown`.
   */
  static async listen (from: RelayEnd, to: RelayEnd, inject: Buffer, teardown: Teardown, rewriteView = false): Promise<Relay> {
    const relay = new Relay(from, to, inject, rewriteView)
    await new Promise<void>((resolve, reject) => {
      relay.#server.once('error', reject)
      if ('path' in from) relay.#server.listen({ path: from.path, exclusive: true }, resolve)
      else relay.#server.listen({ port: from.port, host: '127.0.0.1', exclusive: true }, resolve)
    })
    teardown.add(() => relay.close())
    return relay
  }

  close (): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }
}

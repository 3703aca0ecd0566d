import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { decode, encode } from '@msgpack/msgpack'
import { clientView, socketFileId, unixView } from '../../lib/connection-view'
import { ClientHandshake, type PeerInfo } from '../../lib/protocol/auth'
import { FrameDecoder, HEADER_BYTES } from '../../lib/protocol/framing'
import { waitFor } from './processes'
import type { Teardown } from './teardown'

export type RawEndpoint = { port: number } | { path: string }

/** One frame: the 4-byte big-endian length, then the MessagePack body. */
export function frame (message: unknown): Buffer {
  const body = encode(message)
  const header = Buffer.alloc(HEADER_BYTES)
  header.writeUInt32BE(body.length)
  return Buffer.concat([header, body])
}

/**
 * A peer of the host that speaks the wire protocol by hand, so a test can send what no worker
 * would: a bad proof, nothing at all, garbage, an oversized frame, an op outside the allowlist.
 * It records every byte and message it receives.
 */
export class RawPeer {
  readonly socket: Socket
  readonly #path: string | undefined
  /** Every byte received, in order. */
  received = Buffer.alloc(0)
  readonly messages: unknown[] = []
  closed = false
  #frames = new FrameDecoder(Number.MAX_SAFE_INTEGER)
  #read = 0
  #nextId = 1

  private constructor (socket: Socket, path: string | undefined) {
    this.socket = socket
    this.#path = path
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk])
      for (const body of this.#frames.push(chunk)) this.messages.push(decode(body))
    })
    // The host may reset the connection; what matters here is that it is gone.
    socket.on('error', () => {})
    socket.on('close', () => { this.closed = true })
  }

  /** Connects; the socket is destroyed by `teardown`. */
  static connect (endpoint: RawEndpoint, teardown: Teardown): Promise<RawPeer> {
    const socket = 'path' in endpoint ? connect(endpoint.path) : connect(endpoint.port, '127.0.0.1')
    teardown.add(() => socket.destroy())
    const peer = new RawPeer(socket, 'path' in endpoint ? endpoint.path : undefined)
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(peer))
      socket.once('error', reject)
    })
  }

  /** The next message not yet read, waiting for it if need be. */
  async next (what = 'a message from the host'): Promise<unknown> {
    await waitFor(() => this.messages.length > this.#read || this.closed, 10000, what)
    if (this.messages.length <= this.#read) throw new Error(`the connection closed before ${what}`)
    return this.messages[this.#read++]
  }

  send (message: unknown): void {
    this.socket.write(frame(message))
  }

  write (bytes: Uint8Array): void {
    this.socket.write(bytes)
  }

  /** This connection as a worker sees it (lib/connection-view.ts). */
  get view (): string {
    return clientView(this.socket, this.#path === undefined ? undefined : unixView(this.#path, socketFileId(this.#path)))
  }

  /**
   * Answers the host's challenge as a worker with `key` would (as client `clientId`, a fresh one
   * unless given); resolves with the host's info.
   */
  async handshake (key: string | Buffer, clientId = `raw-${randomBytes(4).toString('hex')}`): Promise<PeerInfo> {
    const handshake = new ClientHandshake(Buffer.from(key), clientId, { pid: process.pid })
    this.send(handshake.respond(await this.next('the challenge'), this.view))
    return handshake.verify(await this.next('the welcome'))
  }

  /** Sends `[id, op, ...args]` and resolves with the reply to that id: `[id, status, ...]`. */
  async request (op: unknown, ...args: unknown[]): Promise<unknown[]> {
    const id = this.#nextId++
    this.send([id, op, ...args])
    while (true) {
      const reply = await this.next(`the reply to request ${id}`)
      if (Array.isArray(reply) && reply[0] === id) return reply
    }
  }

  async waitClosed (timeout = 10000): Promise<void> {
    await waitFor(() => this.closed, timeout, 'the host to close the connection')
  }
}

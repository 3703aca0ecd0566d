import type { Server, Socket } from 'node:net'
import type { ParsedOptions } from '../options'
import type { ValueCodec } from '../protocol/codec'
import { LockTable } from '../store/memory/lock-table'
import { MemoryStore } from '../store/memory/memory-store'
import { MemoryState } from '../store/memory/state'
import { Peer, type PeerContext } from './peer'

const WATCH_BACKLOG_BYTES = 8 * 1024 * 1024

export interface ConnectedWorker {
  clientId: string
  pid: number
}

/**
 * The elected host: owns the state and the locks, and serves them on the socket it won. Its own
 * worker reaches the same state through `localStore()`, without the socket.
 */
export class HostServer {
  readonly state: MemoryState
  readonly locks = new LockTable()
  readonly #server: Server
  readonly #peers = new Set<Peer>()
  readonly #byClient = new Map<string, Peer>()
  readonly #context: PeerContext

  constructor (server: Server, options: ParsedOptions, codec: ValueCodec, warn: PeerContext['warn']) {
    this.#server = server
    this.state = new MemoryState(codec)
    this.#context = {
      key: options.key,
      info: { pid: process.pid },
      maxFrameBytes: options.maxFrameBytes,
      handshakeTimeout: options.handshakeTimeout,
      watchBacklogBytes: WATCH_BACKLOG_BYTES,
      openStore: (clientId) => new MemoryStore(this.state, this.locks, clientId),
      authenticated: (peer) => this.#admit(peer),
      closed: (peer) => this.#forget(peer),
      warn
    }
    server.on('connection', (socket: Socket) => {
      this.#peers.add(new Peer(socket, this.#context))
    })
  }

  /** The host worker's own view of the state, as owner `clientId`. */
  localStore (clientId: string): MemoryStore {
    return new MemoryStore(this.state, this.locks, clientId)
  }

  workers (): ConnectedWorker[] {
    return [...this.#byClient.values()].map((peer) => ({ clientId: peer.clientId, pid: peer.info.pid }))
  }

  /** Stops listening and closes every connection; the state is left to the caller (handover). */
  async close (): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    for (const peer of this.#peers) peer.close()
    await closed
    this.locks.close(new Error('host closed'))
    this.state.close()
  }

  #admit (peer: Peer): void {
    // One connection per client: a client that reconnects before its old connection is noticed as
    // dead replaces it; the old one's closing then leaves the client's locks alone.
    const previous = this.#byClient.get(peer.clientId)
    if (previous !== undefined && previous !== peer) previous.close()
    this.#byClient.set(peer.clientId, peer)
  }

  #forget (peer: Peer): boolean {
    this.#peers.delete(peer)
    if (this.#byClient.get(peer.clientId) !== peer) return false
    this.#byClient.delete(peer.clientId)
    return true
  }
}

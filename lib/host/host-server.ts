import type { Server, Socket } from 'node:net'
import { SharedStateHostLostError } from '../errors'
import { PUSH_HANDOVER, PUSH_HANDOVER_END, PUSH_ID } from '../protocol/messages'
import type { TlsTransport } from '../tls-transport'
import type { HostEngine } from './host-engine'
import { HostSession, type HostDescription, type PushSink } from './host-session'
import { Peer, type PeerContext } from './peer'

const WATCH_BACKLOG_BYTES = 8 * 1024 * 1024
// A handover part carries entries up to this share of the frame limit; one entry always fits,
// since it once arrived in a frame of its own.
const HANDOVER_PART_SHARE = 0.5

export interface HostSettings {
  key: Buffer
  maxFrameBytes: number
  handshakeTimeout: number
  /** How long a successor has to take the state, and a restored lock holder to come back. */
  handoverTimeout: number
  /** Connections kept open in all; more are closed at once. */
  maxConnections: number
  /** Connections kept open before they authenticate; at the cap the oldest is evicted. */
  maxHandshakes: number
  /** Wraps every accepted socket in TLS when the `tls` option is on. */
  tls: TlsTransport | undefined
  /** The workers' call timeout: how long a worker keeps resending what it has not had answered. */
  timeout: number
  warn: (message: string, error?: Error) => void
  error: (message: string, error?: Error) => void
}

// A worker resends a call only within its timeout; its replies are kept this many timeouts after
// its connection went, so a worker that reconnects in time still gets every retry exactly once.
const REPLY_GRACE_TIMEOUTS = 3

/** What a handover part carries: one list of the engine's snapshot. */
export type HandoverField = 'entries' | 'tokens' | 'holders' | 'applied'

// Per item, on top of what sizeOf counts: MessagePack headers, numbers, a reply.
const ITEM_OVERHEAD_BYTES = 48

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

export interface ConnectedWorker {
  clientId: string
  pid: number
}

/**
 * The elected host: serves the engine on the socket it won. Its own worker reaches the engine
 * through `openLocalSession()`, without the socket. On close it hands the whole state to one of
 * its workers, which becomes the next host, before it lets the others go.
 */
export class HostServer {
  readonly engine: HostEngine
  readonly #server: Server
  readonly #settings: HostSettings
  readonly #peers = new Set<Peer>()
  /** Connections not yet authenticated, oldest first (a Set keeps insertion order). */
  readonly #strangers = new Set<Peer>()
  readonly #byClient = new Map<string, Peer>()
  readonly #localOwners = new Set<string>()
  readonly #context: PeerContext
  #frozen = false
  #successorReady: ((taken: boolean) => void) | undefined
  #successor: Peer | undefined
  #graceTimer: NodeJS.Timeout | undefined

  constructor (server: Server, engine: HostEngine, settings: HostSettings) {
    this.#server = server
    this.engine = engine
    this.#settings = settings
    this.#context = {
      key: settings.key,
      info: { pid: process.pid },
      maxFrameBytes: settings.maxFrameBytes,
      handshakeTimeout: settings.handshakeTimeout,
      watchBacklogBytes: WATCH_BACKLOG_BYTES,
      engine,
      describeHost: () => this.describe(),
      frozen: () => this.#frozen,
      authenticated: (peer) => this.#admit(peer),
      closed: (peer) => this.#forget(peer),
      handoverReady: (peer) => { if (peer === this.#successor) this.#successorReady?.(true) },
      warn: settings.warn
    }
    server.on('connection', (socket: Socket) => this.adopt(socket))
    // A listening socket that fails after the election (an accept error) must not take the
    // process down as an unhandled 'error': it is logged, and the connections already open go on.
    server.on('error', (error) => settings.error('shared state: the host\'s listening socket failed', error))
    engine.locks.grantGrace = settings.timeout
    this.#expectRestoredHolders()
    // Replies handed over or loaded for workers not (yet) connected here go if they do not come.
    for (const clientId of engine.applied.clients()) engine.applied.away(clientId, this.#replyGrace)
  }

  get #replyGrace (): number {
    return REPLY_GRACE_TIMEOUTS * this.#settings.timeout
  }

  /**
   * Serves a connection, also one accepted (and paused) before this host was ready. Strangers are
   * bounded: at the cap on handshakes the oldest pending one makes room, so that a flood of idle
   * connections costs the host a fixed number of descriptors and a worker arriving during it
   * still gets in; at the cap on all connections a new one is refused, unless a pending one can
   * make room.
   */
  adopt (socket: Socket): void {
    const { maxConnections, maxHandshakes, tls } = this.#settings
    if (this.#strangers.size >= maxHandshakes || (this.#peers.size >= maxConnections && this.#strangers.size > 0)) {
      this.#evictOldestStranger()
    }
    if (this.#peers.size >= maxConnections) {
      socket.destroy()
      return
    }
    // Resumed before TLS takes the socket over, so that neither reads what the other should.
    socket.resume()
    const peer = new Peer(tls === undefined ? socket : tls.accept(socket), this.#context)
    this.#peers.add(peer)
    this.#strangers.add(peer)
  }

  #evictOldestStranger (): void {
    const oldest = this.#strangers.values().next().value as Peer | undefined
    if (oldest === undefined) return
    // Forgotten now rather than on its close event, so the next arrival counts right.
    this.#strangers.delete(oldest)
    this.#peers.delete(oldest)
    oldest.destroy()
  }

  /** The host worker's own session, as owner `clientId`. */
  openLocalSession (clientId: string, push: PushSink): HostSession {
    this.#localOwners.add(clientId)
    // Under fsync 'always' its events, like a remote worker's, wait for the fsync of their change.
    const durablePush: PushSink = (message, always) => {
      const durable = this.engine.journal?.commit()
      if (durable === undefined) return push(message, always)
      const send = (): void => { push(message, always) }
      durable.then(send, send)
      return true
    }
    return new HostSession(this.engine, clientId, durablePush, () => this.describe())
  }

  describe (): HostDescription {
    const { engine } = this
    const lockList = engine.locks.describe()
    return {
      pid: process.pid,
      workers: [{ clientId: [...this.#localOwners][0] ?? '', pid: process.pid }, ...this.workers()],
      keys: engine.state.size,
      opsPerSecond: engine.meter.rates(),
      locks: {
        held: lockList.filter((lock) => lock.owner !== null).length,
        waiting: lockList.reduce((sum, lock) => sum + lock.waiting, 0),
        waits: engine.locks.waits
      },
      lockList,
      persist: engine.journal?.describe() ?? null
    }
  }

  workers (): ConnectedWorker[] {
    return [...this.#byClient.values()].map((peer) => ({ clientId: peer.clientId, pid: peer.info.pid }))
  }

  /**
   * Stops serving. With workers connected, the oldest becomes the successor: it receives the
   * state, binds the socket and says so; only then are the others let go, so they reconnect to it
   * and resend what this host left unanswered. `frozen` runs once no request is served any more.
   * Resolves true when a successor took the state.
   */
  async close (frozen: () => Promise<void>): Promise<boolean> {
    this.#frozen = true
    clearTimeout(this.#graceTimer)
    // This worker is leaving: its own locks must not travel to the successor.
    for (const owner of this.#localOwners) this.engine.locks.dropOwner(owner, new SharedStateHostLostError('the host closed'))
    // Stop listening now, so the successor can bind; the open connections stay up meanwhile.
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    // Nothing changes from here on; what was logged is flushed before a successor reads the file.
    await frozen()
    let handedOver = false
    for (const successor of this.#successorsByAge()) {
      if (await this.#handOver(successor)) {
        handedOver = true
        break
      }
    }
    for (const peer of this.#peers) peer.close()
    await stopped
    this.engine.close(new SharedStateHostLostError('the host closed'))
    return handedOver
  }

  #successorsByAge (): Peer[] {
    return [...this.#byClient.values()].filter((peer) => !peer.leaving).sort((a, b) => a.connectedAt - b.connectedAt)
  }

  async #handOver (successor: Peer): Promise<boolean> {
    this.#successor = successor
    let timedOut = false
    const ready = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        timedOut = true
        resolve(false)
      }, this.#settings.handoverTimeout)
      this.#successorReady = (taken) => {
        clearTimeout(timer)
        resolve(taken)
      }
    })
    const snapshot = this.engine.snapshot()
    sendInParts(successor, 'entries', snapshot.state.entries, ([key, raw]) => key.length + raw.length)
    sendInParts(successor, 'tokens', snapshot.tokens, ([name]) => name.length)
    sendInParts(successor, 'holders', snapshot.holders, ({ name, owner }) => name.length + owner.length)
    sendInParts(successor, 'applied', snapshot.applied, ([clientId]) => clientId.length)
    const sent = successor.push([PUSH_ID, PUSH_HANDOVER_END, snapshot.state.clock])
    const taken = sent && await ready
    this.#successorReady = undefined
    // A successor that left is the normal case when every worker stops; one that stayed silent is not.
    if (timedOut) this.#settings.warn(`shared state: worker ${successor.info.pid} did not take over the state in time`)
    return taken
  }

  /**
   * Locks handed over from a previous host stay with their holders, who reconnect here; a holder
   * that has not come back within the handover timeout is taken for dead and loses them.
   */
  #expectRestoredHolders (): void {
    const owners = new Set(this.engine.locks.held().map((held) => held.owner))
    if (owners.size === 0) return
    this.#graceTimer = setTimeout(() => {
      for (const owner of owners) {
        if (!this.#byClient.has(owner) && !this.#localOwners.has(owner)) this.engine.locks.dropOwner(owner)
      }
    }, this.#settings.handoverTimeout)
    this.#graceTimer.unref()
  }

  #admit (peer: Peer): void {
    this.#strangers.delete(peer)
    // One connection per client: a client that reconnects before its old connection is noticed as
    // dead replaces it. The old one's watches and lock waits go now (the client resends what it
    // still waits for); its closing then leaves the client's locks alone.
    const previous = this.#byClient.get(peer.clientId)
    if (previous !== undefined && previous !== peer) {
      previous.retire()
      previous.close()
    }
    this.#byClient.set(peer.clientId, peer)
    this.engine.applied.back(peer.clientId)
  }

  #forget (peer: Peer): boolean {
    this.#peers.delete(peer)
    this.#strangers.delete(peer)
    // A successor that leaves before taking the state: try the next one now, not after a timeout.
    if (peer === this.#successor) this.#successorReady?.(false)
    if (this.#byClient.get(peer.clientId) !== peer) return false
    this.#byClient.delete(peer.clientId)
    if (!this.#frozen) this.engine.applied.away(peer.clientId, this.#replyGrace)
    return true
  }
}

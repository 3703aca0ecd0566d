import type { Server, Socket } from 'node:net'
import { SharedStateHostLostError } from '../errors'
import type { TlsTransport } from '../tls-transport'
import { OutgoingHandover, type HandoverOutcome } from './handover'
import type { HostEngine } from './host-engine'
import { HostSession, type HostDescription, type PushSink } from './host-session'
import { Peer, type HandoverSignal, type PeerContext } from './peer'

export type { HandoverField } from './handover'

const WATCH_BACKLOG_BYTES = 8 * 1024 * 1024

export interface HostSettings {
  key: Buffer
  maxFrameBytes: number
  handshakeTimeout: number
  /** How long each step of a handover may take, and a restored lock holder has to come back. */
  handoverTimeout: number
  /** Workers of the previous host, still to reconnect here (empty for a host that was elected). */
  expected: readonly string[]
  /** This host took over while workers were closing together (it may be closing too). */
  closingTogether: boolean
  info: (message: string) => void
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
  #handover: OutgoingHandover | undefined
  #graceTimer: NodeJS.Timeout | undefined
  /** Workers of the previous host that have not reconnected yet, and until when they are awaited. */
  readonly #expected: Set<string>
  readonly #expectedUntil: number
  /** When this host's app began to close (its preClose, or close() itself). */
  #closingSince: number | undefined
  /** Other workers close together with this host: a restart of them all, whose new workers start now. */
  #closingTogether = false
  /** Wakes a closing host that waits for a worker it could hand the state to. */
  #workerArrived: (() => void) | undefined

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
      handoverSignal: (peer, signal) => this.#handoverSignal(peer, signal),
      warn: settings.warn
    }
    this.#expected = new Set(settings.expected)
    this.#closingTogether = settings.closingTogether
    this.#expectedUntil = Date.now() + settings.handoverTimeout
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
   * This host's app begins to close. Workers that said they are closing and are still connected
   * close together with it (a worker stopped before is gone by now, as in a sequential shutdown).
   */
  closing (): void {
    if (this.#closingSince !== undefined) return
    this.#closingSince = Date.now()
    for (const peer of this.#byClient.values()) if (peer.leaving) this.#closingTogether = true
  }

  /**
   * Stops serving and hands the state to a worker that is not closing itself (the newest: in a
   * rolling restart it is the one with the longest life ahead). The port stays bound until that
   * successor has opened the state, so a worker that starts meanwhile finds this host and waits,
   * instead of a free port and an empty state. Only once the successor listens are the others let
   * go, to reconnect to it and resend what this host left unanswered. `frozen` runs once no
   * request is served any more. Resolves true when a successor took the state.
   */
  async close (frozen: () => Promise<void>): Promise<boolean> {
    this.#frozen = true
    this.closing()
    clearTimeout(this.#graceTimer)
    // This worker is leaving: its own locks must not travel to the successor.
    for (const owner of this.#localOwners) this.engine.locks.dropOwner(owner, new SharedStateHostLostError('the host closed'))
    let stopped: Promise<void> | undefined
    const freePort = (): void => { stopped ??= new Promise<void>((resolve) => this.#server.close(() => resolve())) }
    // Nothing changes from here on; what was logged is flushed before a successor reads the file.
    await frozen()
    const handedOver = await this.#handOverToAWorker(freePort)
    freePort()
    for (const peer of this.#peers) peer.close()
    await stopped
    this.engine.close(new SharedStateHostLostError('the host closed'))
    return handedOver
  }

  async #handOverToAWorker (freePort: () => void): Promise<boolean> {
    const tried = new Set<Peer>()
    let waitUntil = Date.now() + this.#settings.handoverTimeout
    for (;;) {
      const successor = this.#nextSuccessor(tried)
      if (successor === undefined) {
        if (!this.#workersComing() || !await this.#workerArrives(waitUntil)) return false
        continue
      }
      tried.add(successor)
      const expected = [...this.#byClient.values()]
        .filter((peer) => peer !== successor && !peer.leaving).map((peer) => peer.clientId)
      const plan = { engine: this.engine, expected, together: this.#closingTogether, stepTimeout: this.#settings.handoverTimeout, freePort }
      const outcome = await this.#handOver(successor, plan)
      if (outcome === 'taken') return true
      // The port was freed for that successor alone: a second copy must never be served.
      if (outcome === 'undecided') return false
      waitUntil = Date.now() + this.#settings.handoverTimeout
    }
  }

  async #handOver (successor: Peer, plan: Parameters<OutgoingHandover['run']>[0]): Promise<HandoverOutcome> {
    const handover = new OutgoingHandover(successor)
    this.#handover = handover
    const started = Date.now()
    const outcome = await handover.run(plan).finally(() => { this.#handover = undefined })
    const keys = this.engine.state.size
    const took = Date.now() - started
    if (outcome === 'taken') {
      this.#settings.info(`shared state: handed ${keys} keys over to worker ${successor.info.pid} in ${took} ms`)
    } else if (outcome === 'declined') {
      this.#settings.info(`shared state: worker ${successor.info.pid} did not take the state (${took} ms)`)
    } else {
      this.#settings.warn(`shared state: worker ${successor.info.pid} was given the port and did not confirm it took the state`)
    }
    return outcome
  }

  /** The newest authenticated worker that has not said it is closing, and was not tried yet. */
  #nextSuccessor (tried: Set<Peer>): Peer | undefined {
    let newest: Peer | undefined
    for (const peer of this.#byClient.values()) {
      if (peer.leaving || tried.has(peer)) continue
      if (newest === undefined || peer.connectedAt >= newest.connectedAt) newest = peer
    }
    return newest
  }

  /**
   * Whether a worker may still come to take the state: one that is authenticating right now; a new
   * one while others close together with this host (a restart of every worker at once, whose new
   * workers start now; when the whole app stops for good, the host lingers that long); or one of
   * the previous host's workers, let go when this host took over and not reconnected yet (a host
   * that closes right after it took over must not take the state with it).
   */
  #workersComing (): boolean {
    for (const peer of this.#peers) if (!peer.authenticated) return true
    const now = Date.now()
    if (this.#closingTogether && now < (this.#closingSince ?? 0) + this.#settings.handoverTimeout) return true
    return this.#expected.size > 0 && now < this.#expectedUntil
  }

  #workerArrives (until: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), Math.max(0, until - Date.now()))
      const done = (arrived: boolean): void => {
        clearTimeout(timer)
        this.#workerArrived = undefined
        resolve(arrived)
      }
      this.#workerArrived = () => done(true)
    })
  }

  #handoverSignal (peer: Peer, signal: HandoverSignal): void {
    if (this.#handover?.successor === peer) this.#handover.signal(signal)
    if (signal === 'leaving') {
      if (this.#closingSince !== undefined) this.#closingTogether = true
      this.#expected.delete(peer.clientId)
      this.#workerArrived?.()
    }
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
    this.#expected.delete(peer.clientId)
    this.#workerArrived?.()
  }

  #forget (peer: Peer): boolean {
    this.#peers.delete(peer)
    this.#strangers.delete(peer)
    // A successor that leaves before taking the state: try the next one now, not after a timeout.
    if (this.#handover?.successor === peer) this.#handover.signal('gone')
    // A worker that failed its handshake is no longer coming.
    this.#workerArrived?.()
    if (this.#byClient.get(peer.clientId) !== peer) return false
    this.#byClient.delete(peer.clientId)
    if (!this.#frozen) this.engine.applied.away(peer.clientId, this.#replyGrace)
    return true
  }
}

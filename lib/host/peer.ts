import type { Socket } from 'node:net'
import { TLSSocket } from 'node:tls'
import { hostView } from '../connection-view'
import { HostHandshake, type PeerInfo } from '../protocol/auth'
import { MessageChannel } from '../protocol/channel'
import { opCode, parseRequest, PUSH_CHANGE, PUSH_ID, PUSH_OVERFLOW, REPLY_ERROR } from '../protocol/messages'
import type { Reply } from './applied-replies'
import { HostSession, type HostDescription } from './host-session'
import type { HostEngine } from './host-engine'

const BYE = opCode('bye')
const SETTLED = opCode('settled')
const LEAVING = opCode('leaving')

/** What a worker tells its host about a handover, outside the request flow (see messages.ts). */
export type HandoverSignal = 'prepared' | 'ready' | 'failed' | 'leaving' | 'progress'

const HANDOVER_SIGNALS = new Map<number, HandoverSignal>([
  [opCode('handoverPrepared'), 'prepared'],
  [opCode('handoverReady'), 'ready'],
  [opCode('handoverFailed'), 'failed'],
  [opCode('handoverProgress'), 'progress'],
  [LEAVING, 'leaving']
])

export interface PeerContext {
  readonly key: Buffer
  readonly info: PeerInfo
  readonly maxFrameBytes: number
  readonly handshakeTimeout: number
  /** Most bytes queued for one worker before its watches are cut. */
  readonly watchBacklogBytes: number
  readonly engine: HostEngine
  describeHost: () => HostDescription
  /** While the host hands over, requests stay unanswered: the worker resends them to the successor. */
  frozen: () => boolean
  authenticated: (peer: Peer) => void
  /**
   * True when the peer was its client's current connection, whose locks and waits must go; false
   * for one its client replaced by reconnecting, whose watches and waits alone go.
   */
  closed: (peer: Peer) => boolean
  /** A handover message from this worker; it arrives even while the host is frozen. */
  handoverSignal: (peer: Peer, signal: HandoverSignal) => void
  warn: (message: string, error?: Error) => void
}

/**
 * One connection on the host. It starts untrusted, with the handshake frame limit and a deadline
 * that also covers a TLS handshake; a bad proof (anything after it is dropped unread), a late
 * answer or a malformed frame closes it without a word. Once authenticated, it hands requests
 * from the op allowlist to its worker's session, and replies in any order (a lock request waits
 * while later requests are answered).
 */
export class Peer {
  readonly #context: PeerContext
  readonly #channel: MessageChannel
  #handshake: HostHandshake | undefined
  /** The peer's one handshake answer arrived; anything more before the welcome is not a worker. */
  #answered = false
  #handshakeTimer: NodeJS.Timeout | undefined
  #session: HostSession | undefined
  /** The keys of the messages being read ahead (reused). */
  readonly #aheadKeys: string[] = []
  clientId = ''
  info: PeerInfo = { pid: 0 }
  readonly connectedAt = Date.now()
  /** The worker said it is closing, or goodbye: it cannot be a successor. */
  leaving = false

  constructor (socket: Socket, context: PeerContext) {
    this.#context = context
    this.#channel = new MessageChannel(socket, {
      message: (message) => this.#session === undefined ? this.#authenticate(message) : this.#dispatch(message),
      readAhead: (messages) => { if (this.#session !== undefined) this.#readAhead(messages) },
      violation: (error) => {
        if (this.#session !== undefined) context.warn(`shared state: closing the connection of worker ${this.info.pid}`, error)
      },
      close: () => this.#closed()
    })
    socket.setNoDelay(true)
    this.#handshakeTimer = setTimeout(() => this.#channel.destroy(), context.handshakeTimeout)
    this.#handshakeTimer.unref()
    // Under TLS, the view of the connection is the session's, known once its handshake is done.
    if (socket instanceof TLSSocket) socket.once('secure', () => this.#challenge(socket))
    else this.#challenge(socket)
  }

  #challenge (socket: Socket): void {
    this.#handshake = new HostHandshake(this.#context.key, this.#context.info, hostView(socket))
    this.#channel.send(this.#handshake.challenge())
  }

  get authenticated (): boolean {
    return this.#session !== undefined
  }

  /** Sends a message the host pushes (handover parts); false once the connection is gone. */
  push (message: unknown[]): boolean {
    this.#channel.send(message)
    return !this.#channel.closed
  }

  /** The largest frame this worker accepts. */
  get maxFrameBytes (): number {
    return this.#context.maxFrameBytes
  }

  /**
   * Its worker connected again: this connection's watches and lock waits go now, before the new
   * connection resends what the worker still waits for.
   */
  retire (): void {
    this.#session?.retire()
  }

  /** Closes the connection after what is queued; the worker sees its host lost. */
  close (): void {
    this.#channel.end()
  }

  /** Drops a connection at once, without sending what is queued (a stranger evicted at the cap). */
  destroy (): void {
    this.#channel.destroy()
  }

  #authenticate (response: unknown): void {
    if (this.#answered || this.#handshake === undefined) return this.#channel.destroy()
    this.#answered = true
    try {
      const { clientId, info, welcome } = this.#handshake.verify(response)
      clearTimeout(this.#handshakeTimer)
      this.clientId = clientId
      this.info = info
      this.#session = new HostSession(this.#context.engine, clientId, (message, always) => this.#pushEvent(message, always), this.#context.describeHost)
      this.#channel.raiseFrameLimit(this.#context.maxFrameBytes)
      this.#channel.send(welcome)
      this.#context.authenticated(this)
    } catch {
      // No error text to an unauthenticated peer: it learns nothing about why.
      this.#channel.destroy()
    }
  }

  #pushEvent (message: unknown[], always = false): boolean {
    if (!always && this.#channel.backlog > this.#context.watchBacklogBytes) return false
    // Under fsync 'always' an event, like a reply, waits for the fsync of the change it shows.
    const durable = this.#context.engine.journal?.commit()
    if (durable !== undefined) {
      const send = (): void => {
        // Too large to send: the watcher is told it missed events, as the session would have told it.
        if (!this.#sendEvent(message) && message[1] === PUSH_CHANGE) this.#sendEvent([PUSH_ID, PUSH_OVERFLOW, message[2]])
      }
      durable.then(send, send)
      return true
    }
    return this.#sendEvent(message)
  }

  #sendEvent (message: unknown[]): boolean {
    try {
      this.#channel.send(message)
    } catch {
      // An event too large to send is a missed event: the watcher is told, as on overflow.
      return false
    }
    return true
  }

  /**
   * Has the map read ahead the keys of requests about to be handled (a request is [id, op,
   * ...args], and most ops name a key first): their hash buckets and records are then fetched
   * together, not one miss after another. A string that is no key (a prefix, a lock name) only
   * costs a lookup.
   */
  #readAhead (messages: readonly unknown[]): void {
    const keys = this.#aheadKeys
    keys.length = 0
    for (const message of messages) {
      const key = Array.isArray(message) ? message[2] : undefined
      if (typeof key === 'string') keys.push(key)
    }
    if (keys.length > 1) this.#context.engine.state.readAhead(keys)
  }

  /** The worker's notice that it will never send an id below `id` again; a malformed one is ignored. */
  #settled (id: unknown): void {
    if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) this.#context.engine.applied.settle(this.clientId, id)
  }

  #dispatch (message: unknown): void {
    if (!Array.isArray(message) || message.length < 2 || !Number.isSafeInteger(message[0]) || message[0] <= 0) {
      this.#context.warn(`shared state: malformed request from worker ${this.info.pid}; closing its connection`)
      return this.#channel.destroy()
    }
    const id = message[0] as number
    const signal = HANDOVER_SIGNALS.get(message[1] as number)
    if (signal !== undefined) {
      if (signal === 'leaving') this.leaving = true
      return this.#context.handoverSignal(this, signal)
    }
    if (message[1] === BYE) this.leaving = true
    if (message[1] === SETTLED) return this.#settled(message[2])
    if (this.#context.frozen()) return
    let args: unknown[]
    try {
      args = parseRequest(message[1], message.slice(2)).args
    } catch (error) {
      const { code, message: text } = error as { code: string, message: string }
      return this.#channel.send([id, REPLY_ERROR, code, text])
    }
    const session = this.#session as HostSession
    const { locks } = this.#context.engine
    const handOffs = locks.handOffs
    let reply: Reply | Promise<Reply>
    try {
      reply = session.handle(id, message[1] as number, args)
    } catch (error) {
      return this.#internalError(id, error as Error)
    }
    if (!(reply instanceof Promise)) {
      if (locks.handOffs === handOffs) return this.#reply(id, reply)
      // This request passed a lock to a waiter, whose grant goes out from a promise callback of
      // this turn. Answering the releaser a turn later lets the grant's write (and the wake-up of
      // the next holder, which the lock's throughput waits for) go first: on a 2-vCPU VM the host
      // took 18 µs from reading a release to writing the grant, and takes 4 µs this way.
      setImmediate(() => { if (!this.#context.frozen()) this.#reply(id, reply) })
      return
    }
    reply.then(
      (settled) => { if (!this.#context.frozen()) this.#reply(id, settled) },
      (error: Error) => this.#internalError(id, error))
  }

  #internalError (id: number, error: Error): void {
    this.#context.warn('shared state: an operation failed on the host', error)
    this.#channel.send([id, REPLY_ERROR, 'FST_SHARED_STATE_PROTOCOL', 'internal error on the host'])
  }

  /** A reply the worker would refuse as too large becomes that error, for that call alone. */
  #reply (id: number, reply: Reply): void {
    try {
      this.#channel.send(reply[0] === 0 ? [id, 0, reply[1]] : [id, 1, reply[1], reply[2]])
    } catch (error) {
      const { code, message } = error as { code: string, message: string }
      this.#channel.send([id, REPLY_ERROR, code, message])
    }
  }

  #closed (): void {
    clearTimeout(this.#handshakeTimer)
    if (this.#context.closed(this)) this.#session?.detach()
    else this.#session?.retire()
  }
}

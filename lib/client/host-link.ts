import type { Server } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { electHost } from '../election'
import { errorFromWire, SharedStateHostLostError, SharedStateTimeoutError } from '../errors'
import type { Reply } from '../host/applied-replies'
import { EarlyConnections } from '../host/early-connections'
import type { EngineSnapshot, HostEngine } from '../host/host-engine'
import { HostServer, type ConnectedWorker, type HandoverField, type HostSettings } from '../host/host-server'
import { describeEndpoint } from '../options'
import {
  opCode, OPS, PUSH_HANDOVER, PUSH_HANDOVER_CANCEL, PUSH_HANDOVER_END, PUSH_PORT_FREE
} from '../protocol/messages'
import type { MemoryState } from '../store/memory/state'
import type { Role } from '../store/store'
import type { ConnectionSettings, HostConnection } from './host-connection'
import { IncomingHandover } from './incoming-handover'
import { LocalTransport } from './local-transport'
import { PendingCalls } from './pending-calls'
import { NOTICE_ID, takeOver } from './takeover'
import type { Transport, TransportEvents } from './transport'

const LEAVING = opCode('leaving')
const HANDOVER_PROGRESS = opCode('handoverProgress')
const ACQUIRE_LOCK = opCode('acquireLock')
const ACQUIRE_LOCK_UNTIL = opCode('acquireLockUntil')
const ACQUIRE_LOCK_READING = opCode('acquireLockReading')
const RELEASE_LOCK = opCode('releaseLock')
const SETTLED = opCode('settled')
// Every this many calls the worker tells its host the oldest call it still waits for: the replies
// below it are never asked for again, and the host's snapshots leave them out (a busy worker's
// window of 32 k replies shrinks to about this many).
const SETTLED_EVERY = 1024
// Acquires given up on locally and not yet answered are remembered up to this many, newest kept.
const ABANDONED_LIMIT = 10000

export interface LinkLog {
  info: (message: string) => void
  warn: (message: string, error?: Error) => void
  error: (message: string, error?: Error) => void
}

export interface LinkSettings extends ConnectionSettings {
  timeout: number
  connectTimeout: number
  handshakeTimeout: number
  maxConnections: number
  maxHandshakes: number
  log: LinkLog
  /** Builds the engine when this worker becomes host: empty, loaded from disk, or handed over. */
  /** `progress` hears the keys restored so far while a handed-over state opens. */
  openEngine: (handedOver: EngineSnapshot | undefined, progress?: (keys: number) => void) => Promise<HostEngine>
  /** A map for a handed-over state to be restored into as its parts arrive. */
  newState?: () => MemoryState
  /** Lets go of what openEngine opened (the persistence file), after the host stopped. */
  closeEngine: (engine: HostEngine) => Promise<void>
  /** Whether the last host died holding the change log (see electHost); absent without one. */
  lastHostDied?: () => Promise<boolean>
}

/**
 * A worker's way to the shared state, whatever happens to the host. It numbers every call for the
 * worker's whole life and keeps it until answered; when the host goes, it elects again (this
 * worker may win and host), and sends what was left unanswered to the new host with the same ids,
 * which turn a retried mutation into a replay of its first answer. Calls made meanwhile wait, up
 * to their timeout.
 */
export class HostLink {
  readonly #settings: LinkSettings
  readonly #pending: PendingCalls
  #role: Role = 'client'
  #transport: Transport | undefined
  #local: LocalTransport | undefined
  #connection: HostConnection | undefined
  #host: HostServer | undefined
  #generation = 0
  #nextId = 1
  /**
   * Lock names of acquires this worker stopped waiting for before the host answered, by request
   * id: a grant that arrives for one of them is given back at once, or the lock would be held by
   * nobody until this worker's connection closed.
   */
  readonly #abandoned = new Map<number, string>()
  /** The dial loop under way (takeovers, then elections), which close() lets finish first. */
  #dialing: Promise<void> | undefined
  /** Complete handovers waiting for the dial loop. */
  readonly #takeovers: IncomingHandover[] = []
  #closed = false
  /** This worker said it is closing: it takes no handover it has not started yet. */
  #leaving = false
  /** What a closing host is sending, when it chose this worker as its successor. */
  #incoming: IncomingHandover | undefined
  /** Elections won or joined after the first: how often this worker's host changed. */
  failovers = 0
  /** Pushed change events, for the proxy's watchers. */
  onPush: (message: unknown[]) => void = () => {}
  /** Called after each change of host, once calls flow again; the proxy re-subscribes its watches. */
  onNewHost: () => void = () => {}

  constructor (settings: LinkSettings) {
    this.#settings = settings
    this.#pending = new PendingCalls(Math.max(5, Math.min(100, settings.timeout / 10)), (call, id) => {
      if (this.#transport === undefined) return new SharedStateHostLostError(`no host answered within ${call.timeout} ms`)
      if (call.op === ACQUIRE_LOCK || call.op === ACQUIRE_LOCK_UNTIL || call.op === ACQUIRE_LOCK_READING) this.#abandon(id, call.args[0] as string)
      return new SharedStateTimeoutError(OPS[call.op]?.name ?? String(call.op), call.timeout)
    })
  }

  /** Whether close() was called. */
  get closed (): boolean {
    return this.#closed
  }

  /** Whether calls reach a host now: this worker hosts, or its connection is up. */
  get connected (): boolean {
    return !this.#closed && (this.#local !== undefined || this.#transport !== undefined)
  }

  get role (): Role {
    return this.#role
  }

  get where (): string {
    return describeEndpoint(this.#settings.endpoint)
  }

  /** The workers connected to this host (empty on a client). */
  workers (): ConnectedWorker[] {
    return this.#host?.workers() ?? []
  }

  /** The first election: resolves once this worker hosts or is an authenticated client. */
  async start (): Promise<void> {
    await this.#elect()
  }

  call (op: number, args: unknown[], timeout = this.#settings.timeout): Promise<unknown> {
    if (this.#closed) return Promise.reject(new SharedStateHostLostError('this worker closed its shared state'))
    if (this.#local !== undefined) return this.#local.call(op, args)
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.add(id, { op, args, deadline: Date.now() + timeout, timeout, resolve, reject })
      if (this.#transport === undefined) return
      this.#send(this.#transport, id, op, args)
      if (id % SETTLED_EVERY === 0) this.#transport.send(NOTICE_ID, SETTLED, [this.#pending.oldestId() ?? id])
    })
  }

  /** Test hook: the current connection, to cut it mid-call. Undefined on the host. */
  get connection (): HostConnection | undefined {
    return this.#connection
  }

  /**
   * This worker is about to close (the app's preClose): its host must not choose it as the
   * successor of a handover, which it would only have to hand on again.
   */
  announceLeaving (): void {
    if (this.#leaving) return
    this.#leaving = true
    this.#connection?.send(NOTICE_ID, LEAVING, [])
    this.#host?.closing()
  }

  /** Leaves: a host hands its state to a successor first; a client says goodbye. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.announceLeaving()
    this.#closed = true
    // A takeover or an election under way would otherwise leave a socket, or the state, behind.
    await this.#dialing
    const host = this.#host
    this.#transport = undefined
    this.#local?.close()
    this.#local = undefined
    if (host !== undefined) {
      const handedOver = await host.close(() => this.#settings.closeEngine(host.engine))
      if (!handedOver) this.#settings.log.info('shared state: host closed with no worker left to take the state')
    }
    this.#connection?.close()
    this.#pending.rejectAll(new SharedStateHostLostError('this worker closed its shared state'))
  }

  async #elect (): Promise<void> {
    const events = this.#eventsFor(++this.#generation)
    const elected = await electHost(this.#settings, this.#settings.connectTimeout, events, this.#settings.lastHostDied)
    if (elected.role === 'host') {
      await this.#becomeHost(elected.server, () => this.#settings.openEngine(undefined), events, { expected: [], closingTogether: false })
    } else {
      this.#connection = elected.connection
      if (this.#leaving) elected.connection.send(NOTICE_ID, LEAVING, [])
      this.#install('client', elected.connection)
      this.#settings.log.info(`shared state: client of ${this.where} (host pid ${elected.connection.hostInfo.pid})`)
    }
  }

  async #becomeHost (server: Server, open: () => Promise<HostEngine>, events: TransportEvents,
    predecessor: Pick<HostSettings, 'expected' | 'closingTogether'>): Promise<void> {
    const early = new EarlyConnections(this.#settings.maxHandshakes)
    server.on('connection', early.hold)
    let engine: HostEngine
    try {
      engine = await open()
    } catch (error) {
      // The socket won in the election must not outlive a host that could not start.
      early.destroyAll()
      await new Promise((resolve) => server.close(resolve))
      throw error
    } finally {
      server.off('connection', early.hold)
    }
    const { log } = this.#settings
    const host = new HostServer(server, engine, {
      key: this.#settings.key,
      maxFrameBytes: this.#settings.maxFrameBytes,
      handshakeTimeout: this.#settings.handshakeTimeout,
      maxConnections: this.#settings.maxConnections,
      maxHandshakes: this.#settings.maxHandshakes,
      tls: this.#settings.tls,
      handoverTimeout: this.#settings.connectTimeout,
      ...predecessor,
      timeout: this.#settings.timeout,
      info: (message) => log.info(message),
      warn: (message, error) => log.warn(message, error),
      error: (message, error) => log.error(message, error)
    })
    const session = host.openLocalSession(this.#settings.clientId, (message) => {
      events.push(message)
      return true
    })
    early.release((socket) => host.adopt(socket))
    this.#host = host
    this.#connection = undefined
    this.#transport = undefined
    this.#local = new LocalTransport(session)
    this.#role = 'host'
    // Calls the old host left unanswered are replayed here under their ids, so the handed-over
    // memory of applied mutations recognises those it already applied.
    for (const [id, call] of this.#pending.entries()) {
      this.#pending.take(id)
      new Promise<Reply>((resolve) => resolve(session.handle(id, call.op, call.args))).then(
        (reply) => reply[0] === 0 ? call.resolve(reply[1]) : call.reject(errorFromWire(reply[1], reply[2])),
        call.reject)
    }
    if (this.#generation > 1) this.onNewHost()
    log.info(`shared state: host on ${this.where}`)
  }

  #abandon (id: number, name: string): void {
    this.#abandoned.set(id, name)
    if (this.#abandoned.size > ABANDONED_LIMIT) this.#abandoned.delete(this.#abandoned.keys().next().value as number)
  }

  /** An answer nobody waits for: a lock granted to an acquire that gave up goes back at once. */
  #lateReply (id: number, status: number, value: unknown): void {
    const name = this.#abandoned.get(id)
    if (name === undefined) return
    this.#abandoned.delete(id)
    if (status !== 0 || this.#closed) return
    // acquireLockReading answers [token, values].
    const token = Array.isArray(value) ? value[0] : value
    this.call(RELEASE_LOCK, [name, token]).catch((error: Error) =>
      this.#settings.log.warn(`shared state: could not give back lock "${name}", granted after its acquire gave up`, error))
  }

  /** Routes calls to `transport` from now on, beginning with those left unanswered. */
  #install (role: Role, transport: Transport): void {
    this.#role = role
    this.#transport = transport
    for (const [id, call] of this.#pending.entries()) this.#send(transport, id, call.op, call.args)
    if (this.#generation > 1) this.onNewHost()
  }

  /** A call too large for the host's frame limit fails alone, instead of costing the connection. */
  #send (transport: Transport, id: number, op: number, args: unknown[]): void {
    try {
      transport.send(id, op, args)
    } catch (error) {
      this.#pending.take(id)?.reject(error as Error)
    }
  }

  /**
   * Events of one connection (one generation). Replies are taken from any generation, since an
   * answer that arrives late is still the answer; a loss or a push counts only from the current.
   */
  #eventsFor (generation: number): TransportEvents {
    return {
      reply: (id, status, value, message) => {
        const call = this.#pending.take(id)
        if (call === undefined) return this.#lateReply(id, status, value)
        if (status === 0) call.resolve(value)
        else call.reject(errorFromWire(value, message))
      },
      push: (message) => {
        if (generation !== this.#generation) return
        if (message[1] === PUSH_HANDOVER) this.#handoverPart(generation, message[2] as HandoverField, message[3])
        else if (message[1] === PUSH_HANDOVER_END) this.#handoverEnd(generation, message)
        else if (message[1] === PUSH_PORT_FREE) this.#incoming?.hear('free')
        else if (message[1] === PUSH_HANDOVER_CANCEL) {
          this.#incoming?.hear('cancelled')
          this.#incoming = undefined
        } else if (!this.#closed) this.onPush(message)
      },
      lost: (error) => {
        if (generation !== this.#generation) return
        const incoming = this.#incoming
        // A complete copy waits for the old host's word; with the host gone, it binds the port
        // the host no longer holds. A partial copy is never used.
        if (incoming?.complete === true) incoming.hear('lost')
        else this.#incoming = undefined
        if (!this.#closed) this.#lost(error)
      }
    }
  }

  /** The closing host chose this worker as its successor: collect the state it sends. */
  #handoverPart (generation: number, field: HandoverField, items: unknown): void {
    if (this.#leaving) return
    if (this.#incoming === undefined || this.#incoming.generation !== generation) {
      this.#settings.log.info('shared state: receiving the state of the closing host')
      this.#incoming = new IncomingHandover(generation, this.#settings.newState?.())
    }
    this.#incoming.collect(field, items)
    // The host paces the handover by progress: each part taken in is progress.
    this.#connection?.send(NOTICE_ID, HANDOVER_PROGRESS, [])
  }

  #handoverEnd (generation: number, [, , clock, expected, together]: unknown[]): void {
    let incoming = this.#incoming
    // A worker that is closing does not start a takeover: the host hears it is leaving and cancels.
    if (this.#leaving) {
      this.#incoming = undefined
      return
    }
    // An empty state comes as no parts at all.
    if (incoming === undefined || incoming.generation !== generation) incoming = this.#incoming = new IncomingHandover(generation)
    incoming.end(clock as number, expected, together)
    this.#dial(incoming)
  }

  #takeOver (incoming: IncomingHandover): Promise<void> {
    return takeOver(incoming, {
      settings: this.#settings,
      connection: this.#connection,
      where: this.where,
      host: async (server, engine, handover) => {
        this.failovers++
        // A new generation: the old host closing this worker's connection is now expected, not a loss.
        // A successor that is closing itself waits, when it closes, for new workers as its host would.
        await this.#becomeHost(server, async () => engine, this.#eventsFor(++this.#generation), {
          expected: handover.expected,
          closingTogether: handover.together || this.#leaving
        })
      }
    })
  }

  #lost (error: Error): void {
    this.#transport = undefined
    this.#connection = undefined
    this.#settings.log.warn(`shared state: lost the host at ${this.where}; electing a new one`, error)
    this.#dial()
  }

  /**
   * The one dial loop: a takeover waiting to run goes first; then, until this worker hosts or is
   * connected (or closes), it elects. A loss while the loop runs joins it: the invariant is checked
   * again after every step, so no loss is ever dropped.
   */
  #dial (takeover?: IncomingHandover): void {
    if (takeover !== undefined) this.#takeovers.push(takeover)
    if (this.#dialing !== undefined) return
    this.#dialing = this.#dialLoop()
  }

  async #dialLoop (): Promise<void> {
    try {
      for (;;) {
        const takeover = this.#takeovers.shift()
        if (takeover !== undefined) {
          await this.#takeOver(takeover).catch((error: Error) => this.#settings.log.error('shared state: taking over failed', error))
          if (this.#incoming === takeover) this.#incoming = undefined
          continue
        }
        if (this.#closed || this.#local !== undefined || this.#transport !== undefined) return
        await this.#reelect()
      }
    } finally {
      // Cleared before the promise settles, so a loss reported right after starts a new loop.
      this.#dialing = undefined
    }
  }

  async #reelect (): Promise<void> {
    // Jitter, so the survivors of a dead host do not all try to bind at the same instant.
    await sleep(Math.random() * 50)
    while (!this.#closed) {
      try {
        await this.#elect()
        this.failovers++
        return
      } catch (error) {
        this.#settings.log.error(`shared state: election at ${this.where} failed; trying again`, error as Error)
        await sleep(200 + Math.random() * 200)
      }
    }
  }
}

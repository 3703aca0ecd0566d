import type { Socket } from 'node:net'
import { isSharedStateError } from '../errors'
import { HostHandshake, type PeerInfo } from '../protocol/auth'
import { MessageChannel } from '../protocol/channel'
import { parseRequest, PUSH_CHANGE, PUSH_ID, PUSH_OVERFLOW, REPLY_ERROR, REPLY_OK } from '../protocol/messages'
import type { MemoryStore } from '../store/memory/memory-store'
import type { ChangeEvent, Store } from '../store/store'

export interface PeerContext {
  readonly key: Buffer
  readonly info: PeerInfo
  readonly maxFrameBytes: number
  readonly handshakeTimeout: number
  /** Most bytes of change events queued for one watcher before its watch is cut. */
  readonly watchBacklogBytes: number
  /** A store for an authenticated client: the host's state seen by that owner. */
  openStore: (clientId: string) => MemoryStore
  authenticated: (peer: Peer) => void
  /** True when the peer was its client's current connection, whose locks and waits must go. */
  closed: (peer: Peer) => boolean
  warn: (message: string, error?: Error) => void
}

/**
 * One connection on the host. It starts untrusted, with the handshake frame limit and a deadline;
 * a bad proof, a late answer or a malformed frame closes it without a word. Once authenticated, it
 * dispatches requests from the op allowlist to its own MemoryStore, and replies in any order (a
 * lock request waits while later requests are answered).
 */
export class Peer {
  readonly #context: PeerContext
  readonly #channel: MessageChannel
  readonly #handshake: HostHandshake
  readonly #watches = new Map<number, () => Promise<void>>()
  #handshakeTimer: NodeJS.Timeout | undefined
  #store: MemoryStore | undefined
  #nextWatchId = 1
  clientId = ''
  info: PeerInfo = { pid: 0 }

  constructor (socket: Socket, context: PeerContext) {
    this.#context = context
    this.#handshake = new HostHandshake(context.key, context.info)
    this.#channel = new MessageChannel(socket, {
      message: (message) => this.#store === undefined ? this.#authenticate(message) : this.#dispatch(message),
      violation: (error) => {
        if (this.#store !== undefined) context.warn(`shared state: closing the connection of worker ${this.info.pid}`, error)
      },
      close: () => this.#closed()
    })
    socket.setNoDelay(true)
    this.#handshakeTimer = setTimeout(() => this.#channel.destroy(), context.handshakeTimeout)
    this.#handshakeTimer.unref()
    this.#channel.send(this.#handshake.challenge())
  }

  get authenticated (): boolean {
    return this.#store !== undefined
  }

  /** Closes the connection; the client sees its host lost. */
  close (): void {
    this.#channel.destroy()
  }

  #authenticate (response: unknown): void {
    try {
      const { clientId, info, welcome } = this.#handshake.verify(response)
      clearTimeout(this.#handshakeTimer)
      this.clientId = clientId
      this.info = info
      this.#store = this.#context.openStore(clientId)
      this.#channel.raiseFrameLimit(this.#context.maxFrameBytes)
      this.#channel.send(welcome)
      this.#context.authenticated(this)
    } catch {
      // No error text to an unauthenticated peer: it learns nothing about why.
      this.#channel.destroy()
    }
  }

  #dispatch (message: unknown): void {
    if (!Array.isArray(message) || message.length < 2 || typeof message[0] !== 'number' || message[0] <= 0) {
      this.#context.warn(`shared state: malformed request from worker ${this.info.pid}; closing its connection`)
      return this.#channel.destroy()
    }
    const id = message[0]
    let result: Promise<unknown>
    try {
      const request = parseRequest(message[1], message.slice(2))
      result = this.#run(request.spec.name, request.args)
    } catch (error) {
      return this.#replyError(id, error)
    }
    result.then((value) => this.#channel.send([id, REPLY_OK, value]), (error) => this.#replyError(id, error))
  }

  #run (name: string, args: unknown[]): Promise<unknown> {
    const store = this.#store as MemoryStore
    switch (name) {
      case 'ping': return Promise.resolve(null)
      case 'watch': return this.#watch(args[0] as string)
      case 'unwatch': return this.#unwatch(args[0] as number)
      case 'acquireLock': return store.acquireLock(args[0] as string, { timeout: args[1] as number, ttl: args[2] as number })
      default: return (store[name as keyof Store] as (...a: unknown[]) => Promise<unknown>).apply(store, args)
    }
  }

  async #watch (prefix: string): Promise<number> {
    const watchId = this.#nextWatchId++
    const stop = await (this.#store as MemoryStore).watch(prefix, (event) => this.#pushChange(watchId, event))
    this.#watches.set(watchId, stop)
    return watchId
  }

  async #unwatch (watchId: number): Promise<boolean> {
    const stop = this.#watches.get(watchId)
    if (stop === undefined) return false
    this.#watches.delete(watchId)
    await stop()
    return true
  }

  #pushChange (watchId: number, event: ChangeEvent): void {
    // A watcher that does not read its socket must not grow the host's memory: past the limit its
    // watch ends and it is told it missed events.
    if (this.#channel.backlog > this.#context.watchBacklogBytes) {
      this.#unwatch(watchId).catch(() => {})
      this.#channel.send([PUSH_ID, PUSH_OVERFLOW, watchId])
      return
    }
    this.#channel.send([PUSH_ID, PUSH_CHANGE, watchId, event.type, event.key, event.value ?? null])
  }

  #replyError (id: number, error: unknown): void {
    if (isSharedStateError(error)) {
      this.#channel.send([id, REPLY_ERROR, error.code, error.message])
    } else {
      this.#context.warn('shared state: an operation failed on the host', error as Error)
      this.#channel.send([id, REPLY_ERROR, 'FST_SHARED_STATE_PROTOCOL', 'internal error on the host'])
    }
  }

  #closed (): void {
    clearTimeout(this.#handshakeTimer)
    for (const stop of this.#watches.values()) stop().catch(() => {})
    this.#watches.clear()
    if (this.#context.closed(this)) this.#store?.detach()
  }
}

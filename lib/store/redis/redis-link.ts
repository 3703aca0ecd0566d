import { SharedStateHostLostError, SharedStateTimeoutError } from '../../errors'
import { fromRedisError } from './errors'
import type { ScriptedRedis } from './scripts'

interface PendingCall {
  op: string
  send: (client: ScriptedRedis) => Promise<unknown>
  resolve: (value: unknown) => void
  reject: (error: Error) => void
  timer: NodeJS.Timeout | undefined
  sent: boolean
  done: boolean
}

/**
 * Every command of the store goes through here, so no call can hang. The connection runs without
 * ioredis' offline queue and without its resend of unanswered commands: while Redis is away, calls
 * wait here, in call order, and go out the moment it is back; a call still waiting at its deadline
 * rejects with HOST_LOST and is never sent, so a caller that saw an error never sees its write
 * applied later. A call that was sent but not answered in time rejects with TIMEOUT, and one in
 * flight when the connection drops with HOST_LOST at once: the outcome of either is unknown, as
 * with any remote write.
 *
 * Once Redis has been away for a whole `timeout` (a waiting call expired), later calls reject with
 * HOST_LOST at once instead of each waiting again, until the connection is back: a long outage
 * answers 503 fast, and a request that makes several calls fails within one timeout, not several.
 */
export class RedisLink {
  readonly client: ScriptedRedis
  readonly where: string
  readonly #timeout: number
  readonly #waiting: PendingCall[] = []
  #lastError: Error | undefined
  #closed = false
  #readyCount = 0
  /** Redis has been unreachable for longer than `timeout`: fail fast until it is back. */
  #down = false

  constructor (client: ScriptedRedis, where: string, timeout: number) {
    this.client = client
    this.where = where
    this.#timeout = timeout
    client.on('ready', () => {
      this.#readyCount++
      this.#down = false
      this.#lastError = undefined
      this.#flush()
    })
    client.on('error', (error: Error) => { this.#lastError = error })
  }

  /** How often the connection came back after it was lost. */
  get reconnects (): number {
    return Math.max(0, this.#readyCount - 1)
  }

  /** Whether Redis is connected right now. */
  get connected (): boolean {
    return this.client.status === 'ready'
  }

  /** Sends `send(client)` now if Redis is connected, else as soon as it is; settles within `timeout`. */
  call<T> (op: string, send: (client: ScriptedRedis) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: PendingCall = {
        op,
        send,
        resolve: resolve as (value: unknown) => void,
        reject,
        timer: undefined,
        sent: false,
        done: false
      }
      if (this.#closed) {
        reject(new SharedStateHostLostError('the store was closed'))
        return
      }
      if (this.#down && this.client.status !== 'ready') {
        reject(this.#unreachable())
        return
      }
      pending.timer = setTimeout(() => this.#expire(pending), this.#timeout)
      if (this.client.status === 'ready' && this.#waiting.length === 0) {
        this.#dispatch(pending)
      } else {
        this.#waiting.push(pending)
      }
    })
  }

  /** Rejects whatever still waits; the connection itself is closed by the backend. */
  close (): void {
    this.#closed = true
    for (const pending of this.#waiting.splice(0)) {
      this.#settle(pending, new SharedStateHostLostError('the store was closed'))
    }
  }

  #dispatch (pending: PendingCall): void {
    pending.sent = true
    let reply: Promise<unknown>
    try {
      reply = pending.send(this.client)
    } catch (error) {
      this.#settle(pending, fromRedisError(error, this.where))
      return
    }
    reply.then(
      (value) => {
        if (pending.done) return
        pending.done = true
        clearTimeout(pending.timer)
        pending.resolve(value)
      },
      (error: unknown) => this.#settle(pending, fromRedisError(error, this.where)))
  }

  #flush (): void {
    while (this.#waiting.length > 0 && this.client.status === 'ready') {
      const pending = this.#waiting.shift() as PendingCall
      if (!pending.done) this.#dispatch(pending)
    }
  }

  #expire (pending: PendingCall): void {
    if (pending.done) return
    if (pending.sent) {
      if (this.client.status !== 'ready') this.#down = true
      this.#settle(pending, new SharedStateTimeoutError(pending.op, this.#timeout))
      return
    }
    this.#down = true
    this.#settle(pending, this.#unreachable())
    // Every call waits as long, so the expired ones are at the head: drop them there.
    while (this.#waiting[0]?.done === true) this.#waiting.shift()
  }

  #unreachable (): Error {
    const reason = this.#lastError === undefined ? `not connected for ${this.#timeout} ms` : this.#lastError.message
    return new SharedStateHostLostError(`Redis at ${this.where} is unreachable: ${reason}`, { cause: this.#lastError })
  }

  #settle (pending: PendingCall, error: Error): void {
    if (pending.done) return
    pending.done = true
    clearTimeout(pending.timer)
    pending.reject(error)
  }
}

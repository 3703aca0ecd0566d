import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'
import { SharedStateTimeoutError } from '../../errors'
import type { ChangeEvent, ChangeListener } from '../store'
import { fromRedisError } from './errors'
import type { KeyLayout } from './keys'
import type { RedisLink } from './redis-link'

interface Watcher {
  prefix: string
  listener: ChangeListener
}

const KINDS: Record<string, ChangeEvent['type']> = { s: 'set', d: 'delete', c: 'clear' }

/** The payload of a `clear` event, which Node publishes itself (kind, then a key of length 0). */
export const CLEAR_EVENT = Buffer.from([0x63, 0, 0, 0, 0])

/**
 * Watches over Redis pub/sub, on a connection of its own (a subscribed connection can do nothing
 * else). `set`, `delete` and `clear` events are published by the scripts that make the changes, so
 * they arrive in the order Redis applied them. `expire` events come from Redis' keyspace
 * notifications, which need `notify-keyspace-events` to include `Ex`: the first watch adds those
 * flags with CONFIG SET (adding, never removing, and again after Redis restarts); where CONFIG is
 * refused, a warning says so and watches see no `expire` events. Pub/sub delivers at most once:
 * events published while this connection is down are lost, as during a failover in socket mode.
 *
 * The same connection carries the lock wake-ups (see redis-locks.ts).
 */
export class RedisWatch {
  readonly #subscriber: Redis
  readonly #link: RedisLink
  readonly #keys: KeyLayout
  readonly #log: FastifyBaseLogger
  readonly #expiredChannel: string
  readonly #timeout: number
  readonly #watchers = new Set<Watcher>()
  #subscribed: Promise<void> | undefined
  #warnedConfig = false
  /** A lock was released (or its first waiter left) and `owner` is first in its queue. */
  onLockReleased: (owner: string, name: string) => void = () => {}

  constructor (subscriber: Redis, link: RedisLink, keys: KeyLayout, db: number, timeout: number, log: FastifyBaseLogger) {
    this.#subscriber = subscriber
    this.#link = link
    this.#keys = keys
    this.#log = log
    this.#timeout = timeout
    this.#expiredChannel = `__keyevent@${db}__:expired`
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#message(channel.toString(), message))
    // A restarted Redis has forgotten the flags; set them again while anyone watches.
    link.client.on('ready', () => {
      if (this.#watchers.size > 0) this.#enableExpiredEvents().catch(() => {})
    })
    // What was published while the subscriber was away is gone: every watcher hears `lost` once
    // the subscriber is back (ioredis subscribes again before it says it is ready).
    let readyBefore = subscriber.status === 'ready'
    subscriber.on('ready', () => {
      if (readyBefore) this.#tellLost()
      readyBefore = true
    })
  }

  /** Subscribes to the lock wake-ups; called once, at registration. */
  async start (): Promise<void> {
    await this.#withDeadline('subscribe', this.#subscriber.subscribe(this.#keys.lockReleased))
  }

  async watch (prefix: string, listener: ChangeListener): Promise<() => Promise<void>> {
    const watcher = { prefix, listener }
    this.#watchers.add(watcher)
    try {
      if (this.#subscribed === undefined) this.#subscribed = this.#subscribe()
      await this.#subscribed
    } catch (error) {
      this.#watchers.delete(watcher)
      throw error
    }
    return async () => {
      if (!this.#watchers.delete(watcher) || this.#watchers.size > 0) return
      this.#subscribed = undefined
      await this.#withDeadline('unwatch', this.#subscriber.unsubscribe(this.#keys.events, this.#expiredChannel))
    }
  }

  close (): void {
    this.#watchers.clear()
    this.onLockReleased = () => {}
  }

  async #subscribe (): Promise<void> {
    try {
      await this.#enableExpiredEvents()
      await this.#withDeadline('watch', this.#subscriber.subscribe(this.#keys.events, this.#expiredChannel))
    } catch (error) {
      this.#subscribed = undefined
      throw error
    }
  }

  async #enableExpiredEvents (): Promise<void> {
    try {
      const reply = await this.#link.call('watch', (client) => client.config('GET', 'notify-keyspace-events')) as unknown as string[]
      const flags = reply[1] ?? ''
      if (flags.includes('E') && (flags.includes('x') || flags.includes('A'))) return
      await this.#link.call('watch', (client) => client.config('SET', 'notify-keyspace-events', `${flags}Ex`))
    } catch (error) {
      if (this.#warnedConfig) return
      this.#warnedConfig = true
      this.#log.warn({ err: error }, 'shared state: Redis refused to enable keyspace notifications; ' +
        'watch() sees no "expire" events unless notify-keyspace-events includes "Ex"')
    }
  }

  #message (channel: string, message: Buffer): void {
    if (channel === this.#keys.lockReleased) {
      const text = message.toString()
      const space = text.indexOf(' ')
      this.onLockReleased(text.slice(0, space), text.slice(space + 1))
    } else if (channel === this.#keys.events) {
      this.#emit(parseEvent(message, this.#keys))
    } else if (channel === this.#expiredChannel) {
      const key = this.#keys.userKey(message.toString())
      if (key !== undefined) this.#emit({ type: 'expire', key })
    }
  }

  #tellLost (): void {
    for (const watcher of [...this.#watchers]) watcher.listener({ type: 'lost', key: watcher.prefix })
  }

  #emit (event: ChangeEvent | undefined): void {
    if (event === undefined) return
    for (const watcher of this.#watchers) {
      if (event.type === 'clear' || event.key.startsWith(watcher.prefix)) watcher.listener(event)
    }
  }

  async #withDeadline<T> (op: string, promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((resolve, reject) => {
      timer = setTimeout(() => reject(new SharedStateTimeoutError(op, this.#timeout)), this.#timeout)
    })
    try {
      return await Promise.race([promise, deadline])
    } catch (error) {
      throw fromRedisError(error, this.#link.where)
    } finally {
      clearTimeout(timer)
    }
  }
}

/** `kind | u32 key length | redis key | value`, as the scripts publish it. */
function parseEvent (message: Buffer, keys: KeyLayout): ChangeEvent | undefined {
  const type = KINDS[String.fromCharCode(message[0] ?? 0)]
  if (type === undefined || message.length < 5) return undefined
  if (type === 'clear') return { type, key: '' }
  const end = 5 + message.readUInt32BE(1)
  const key = keys.userKey(message.subarray(5, end).toString())
  if (key === undefined) return undefined
  return type === 'set' ? { type, key, value: message.subarray(end) } : { type, key }
}

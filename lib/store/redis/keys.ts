import { createHash } from 'node:crypto'

/**
 * Where everything lives in Redis. All of it sits under one namespace (the client's own
 * `keyPrefix`, if any, then the plugin's `prefix`), split so that no user key can collide with an
 * internal one and `keys()`, `size()` and `clear()` see values only:
 *
 *   <ns>map:<key>            hash { v: MessagePack bytes, n: version }, with the key's own TTL
 *   <ns>clock                counter: every write takes the next version from it
 *   <ns>lock:<name>          the holder's random token, with the lease as its TTL
 *   <ns>lock-queue:<name>    list of the processes waiting, first come first
 *   <ns>lock-waiters:<name>  zset process -> deadline by which it must check in again
 *   <ns>fence:<name>         counter behind the fencing tokens; never expires, never cleared
 *
 * Channels: <ns>events (watch), <ns>lock-released (lock wake-ups).
 *
 * Connections are named `shared-state:<tag>:<worker id>:<pid>[:sub]`, the tag a hash of the
 * namespace (a connection name allows no spaces), so `stats()` finds the workers of one namespace
 * in CLIENT LIST.
 */
export class KeyLayout {
  readonly namespace: string
  readonly clock: string
  readonly events: string
  readonly lockReleased: string
  readonly #dataPrefix: string
  readonly #connectionPrefix: string

  constructor (namespace: string) {
    this.namespace = namespace
    this.#dataPrefix = `${namespace}map:`
    this.#connectionPrefix = `shared-state:${createHash('sha1').update(namespace).digest('hex').slice(0, 12)}:`
    this.clock = `${namespace}clock`
    this.events = `${namespace}events`
    this.lockReleased = `${namespace}lock-released`
  }

  data (key: string): string {
    return this.#dataPrefix + key
  }

  /** The user's key for a Redis key of the map, or undefined for any other key. */
  userKey (redisKey: string): string | undefined {
    return redisKey.startsWith(this.#dataPrefix) ? redisKey.slice(this.#dataPrefix.length) : undefined
  }

  /** A SCAN pattern matching the map's keys that start with `prefix`, glob characters escaped. */
  dataPattern (prefix: string): string {
    return `${escapeGlob(this.#dataPrefix + prefix)}*`
  }

  /** A SCAN pattern matching the holders of every lock (the queues and fences excluded). */
  lockPattern (): string {
    return `${escapeGlob(`${this.namespace}lock:`)}*`
  }

  /** The name of a worker's command connection, or with `:sub`, of its pub/sub connection. */
  connectionName (workerId: string, subscriber: boolean): string {
    return `${this.#connectionPrefix}${workerId}:${process.pid}${subscriber ? ':sub' : ''}`
  }

  /** The worker behind a command connection of this namespace, from its name in CLIENT LIST. */
  workerOf (connectionName: string): { clientId: string, pid: number } | undefined {
    if (!connectionName.startsWith(this.#connectionPrefix)) return undefined
    const parts = connectionName.slice(this.#connectionPrefix.length).split(':')
    if (parts.length !== 2) return undefined
    return { clientId: parts[0] as string, pid: Number(parts[1]) }
  }

  lock (name: string): LockKeys {
    return {
      holder: `${this.namespace}lock:${name}`,
      queue: `${this.namespace}lock-queue:${name}`,
      waiters: `${this.namespace}lock-waiters:${name}`,
      fence: `${this.namespace}fence:${name}`
    }
  }
}

export interface LockKeys {
  holder: string
  queue: string
  waiters: string
  fence: string
}

export function escapeGlob (text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

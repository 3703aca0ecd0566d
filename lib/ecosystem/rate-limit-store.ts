import type { SharedMap } from '../api/shared-map'
import { MAX_MS } from '../deadlines'
import { settle } from './callback'

/** What @fastify/rate-limit passes a store's constructor and `child()`: the options it reads here. */
export interface RateLimitStoreOptions {
  continueExceeding?: boolean
  exponentialBackoff?: boolean
  routeInfo?: { method?: string, url?: string }
}

type Callback = (error: Error | null, result?: { current: number, ttl: number }) => void

export interface SharedRateLimitStoreOptions {
  /** Key namespace in the shared map. @default 'rate-limit:' */
  prefix?: string
}

/** A store as @fastify/rate-limit uses it. */
export interface RateLimitStore {
  incr (key: string, callback: Callback, timeWindow: number, max: number): void
  read (key: string, callback: Callback, timeWindow: number): void
  /** `routeOptions`: the route's options with its rate-limit settings (RateLimitStoreOptions). */
  child (routeOptions: object): RateLimitStore
}

/** The constructor @fastify/rate-limit's `store` option takes. */
export type RateLimitStoreClass = new (options: RateLimitStoreOptions) => RateLimitStore

/**
 * A store for @fastify/rate-limit that counts in the shared map, so a limit holds across every
 * worker instead of per worker. A hit is one atomic `incr` whose first call in a window also sets
 * the window as the key's ttl, so a window always ends, even if the worker that opened it dies.
 *
 *   await app.register(rateLimit, { max: 100, timeWindow: 60000, store: sharedRateLimitStore(app.shared) })
 */
export function sharedRateLimitStore (shared: SharedMap, settings: SharedRateLimitStoreOptions = {}): RateLimitStoreClass {
  const basePrefix = settings.prefix ?? 'rate-limit:'

  class SharedRateLimitStore {
    readonly #prefix: string
    readonly #continueExceeding: boolean
    readonly #exponentialBackoff: boolean

    constructor (options: RateLimitStoreOptions, prefix = basePrefix) {
      this.#prefix = prefix
      this.#continueExceeding = options.continueExceeding === true
      this.#exponentialBackoff = options.exponentialBackoff === true
    }

    incr (key: string, callback: Callback, timeWindow: number, max: number): void {
      settle(this.#hit(this.#prefix + key, timeWindow, max), callback)
    }

    read (key: string, callback: Callback, timeWindow: number): void {
      const name = this.#prefix + key
      // Sent in one turn, so they reach the host together and in this order.
      const state = Promise.all([shared.get<number>(name), shared.ttl(name)]).then(([current, ttl]) =>
        current === undefined ? { current: 0, ttl: 0 } : { current, ttl: ttl < 0 ? timeWindow : ttl })
      settle(state, callback)
    }

    /** A route with its own limit counts apart from the others, as the built-in stores do. */
    child (options: object): SharedRateLimitStore {
      const routeOptions = options as RateLimitStoreOptions
      const route = `${routeOptions.routeInfo?.method ?? ''}${routeOptions.routeInfo?.url ?? ''}:`
      return new SharedRateLimitStore(routeOptions, this.#prefix + route)
    }

    async #hit (name: string, timeWindow: number, max: number): Promise<{ current: number, ttl: number }> {
      // Any window a number of ms says holds as given (a monthly quota resets after a month).
      const window = Math.min(Math.max(1, Math.round(timeWindow)), MAX_MS)
      const [current, left] = await Promise.all([shared.incr(name, 1, { ttl: window }), shared.ttl(name)])
      if (current > max && (this.#continueExceeding || this.#exponentialBackoff)) {
        const ttl = this.#exponentialBackoff ? Math.min(window * 2 ** (current - max - 1), MAX_MS) : window
        await shared.expire(name, ttl)
        return { current, ttl }
      }
      return { current, ttl: left < 0 ? window : left }
    }
  }

  return SharedRateLimitStore as unknown as RateLimitStoreClass
}

import type { SharedMap } from '../api/shared-map'
import { MAX_MS } from '../deadlines'
import { settle } from './callback'

type Callback = (error: Error | null) => void

interface SessionLike {
  cookie?: { maxAge?: number | null, expires?: Date | string | null }
}

export interface SharedSessionStoreOptions {
  /** Key namespace in the shared map. @default 'session:' */
  prefix?: string
  /** ms a session lives when its cookie has no max age or expiry. @default 86400000 (a day) */
  ttl?: number
}

const DAY_MS = 24 * 60 * 60 * 1000

/**
 * A store for @fastify/session that keeps sessions in the shared map, so a session created by one
 * worker is found by every other. A session is kept as its JSON, as @fastify/session's own Redis
 * companions do (it restores the cookie from that), with the cookie's remaining life as the key's
 * ttl: it disappears when the cookie would.
 *
 *   await app.register(fastifySession, { secret, store: new SharedSessionStore(app.shared) })
 */
export class SharedSessionStore {
  readonly #shared: SharedMap
  readonly #prefix: string
  readonly #ttl: number

  constructor (shared: SharedMap, options: SharedSessionStoreOptions = {}) {
    this.#shared = shared
    this.#prefix = options.prefix ?? 'session:'
    this.#ttl = options.ttl ?? DAY_MS
  }

  set (sessionId: string, session: SessionLike, callback: Callback): void {
    settle(this.#shared.set(this.#prefix + sessionId, JSON.stringify(session), { ttl: this.#ttlOf(session) }), callback)
  }

  /** Generic in the session type, which @fastify/session declares and this package does not import. */
  get<S> (sessionId: string, callback: (error: Error | null, session?: S | null) => void): void {
    // A value that is not a session's JSON (another writer under the prefix) is an error for the
    // callback, not a crash.
    const session = this.#shared.get<string>(this.#prefix + sessionId)
      .then((json) => json === undefined ? null : JSON.parse(json) as S)
    settle(session, callback)
  }

  destroy (sessionId: string, callback: Callback): void {
    settle(this.#shared.delete(this.#prefix + sessionId).then(() => {}), callback)
  }

  #ttlOf (session: SessionLike): number {
    const { cookie } = session
    let left = typeof cookie?.maxAge === 'number' ? cookie.maxAge : undefined
    if (left === undefined && cookie?.expires !== undefined && cookie.expires !== null) {
      left = new Date(cookie.expires).getTime() - Date.now()
    }
    // An already-expired cookie still gets a moment of life, not "no expiry".
    return left === undefined ? this.#ttl : Math.min(MAX_MS, Math.max(1, Math.round(left)))
  }
}

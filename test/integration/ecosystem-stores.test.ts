import fastifyRateLimit from '@fastify/rate-limit'
import Fastify, { type FastifyInstance } from 'fastify'
import { sharedRateLimitStore, sharedState, SharedSessionStore } from '../../lib'
import type { SharedMap } from '../../lib/api/shared-map'
import { getOnce } from '../helpers/http'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// The two stores against a live host: two Fastify apps in this process on one manager port, the
// first the host and the second its client, so every store call on the client crosses the socket.
// Requests go over HTTP, not inject(): light-my-request and @fastify/cookie load the ESM-only
// `cookie` package, which Jest cannot load on Node 20. @fastify/session itself is exercised by
// ecosystem-session.test.ts, on a real cluster.

const IP = '127.0.0.1'

const teardown = new Teardown()
afterEach(() => teardown.run())

/** Two apps sharing one state: [host, client]; closed client first by teardown. */
async function pair (): Promise<[FastifyInstance, FastifyInstance]> {
  const port = await freePort()
  const apps: FastifyInstance[] = []
  for (const expected of ['host', 'client']) {
    const app = Fastify()
    teardown.add(() => app.close())
    await app.register(sharedState, { port, key: TEST_KEY })
    expect(app.shared.role).toBe(expected)
    apps.push(app)
  }
  return apps as [FastifyInstance, FastifyInstance]
}

interface Hit { current: number, ttl: number }
type StoreCall = (key: string, callback: (error: Error | null, result?: Hit) => void, timeWindow: number, max: number) => void

/** A store's callback method as a promise. */
function call (method: StoreCall, key: string, timeWindow: number, max = 0): Promise<Hit> {
  return new Promise((resolve, reject) => {
    method(key, (error, result) => { if (error === null && result !== undefined) resolve(result); else reject(error) }, timeWindow, max)
  })
}

/** A rate-limit store on `shared`, as @fastify/rate-limit builds it from its options. */
function rateLimitStore (shared: SharedMap, options: { continueExceeding?: boolean, exponentialBackoff?: boolean } = {}) {
  const Store = sharedRateLimitStore(shared)
  const store = new Store(options)
  return {
    incr: (key: string, timeWindow: number, max: number) => call(store.incr.bind(store), key, timeWindow, max),
    read: (key: string, timeWindow: number) => call((k, cb, w) => store.read(k, cb, w), key, timeWindow)
  }
}

/** Listens on a port the kernel picks; GET `path` on it over a fresh connection: [status, remaining]. */
async function serve (app: FastifyInstance): Promise<(path: string) => Promise<[number, string | undefined]>> {
  const url = await app.listen({ host: IP, port: 0 })
  return async (path) => {
    const reply = await getOnce(url, path)
    return [reply.status, reply.headers['x-ratelimit-remaining'] as string | undefined]
  }
}

describe('sharedRateLimitStore', () => {
  async function limited (app: FastifyInstance, options: { max: number, timeWindow: number, prefix?: string }): Promise<void> {
    const store = options.prefix === undefined ? sharedRateLimitStore(app.shared) : sharedRateLimitStore(app.shared, { prefix: options.prefix })
    await app.register(fastifyRateLimit, { max: options.max, timeWindow: options.timeWindow, store })
    app.get('/hit', async () => 'ok')
  }

  test('one count for both apps: max 3 lets exactly 3 of 8 alternating requests through', async () => {
    const apps = await pair()
    const hits = []
    for (const app of apps) {
      await limited(app, { max: 3, timeWindow: 60000 })
      hits.push(await serve(app))
    }
    const answers = []
    for (let i = 0; i < 8; i++) answers.push(await hits[i % 2]?.('/hit'))
    expect(answers).toEqual([
      [200, '2'], [200, '1'], [200, '0'],
      [429, '0'], [429, '0'], [429, '0'], [429, '0'], [429, '0']
    ])
    expect(await apps[0].shared.get(`rate-limit:${IP}`)).toBe(8)
  })

  test('the count lives under the prefix option', async () => {
    const [host] = await pair()
    await limited(host, { max: 3, timeWindow: 60000, prefix: 'limits/' })
    expect(await (await serve(host))('/hit')).toEqual([200, '2'])
    expect(await host.shared.keys()).toEqual([`limits/${IP}`])
  })

  test('a window is the key\'s ttl: when it ends, the count starts again at 1', async () => {
    const [host, client] = await pair()
    const timeWindow = 300
    await limited(host, { max: 2, timeWindow })
    await limited(client, { max: 2, timeWindow })
    const [onHost, onClient] = [await serve(host), await serve(client)]
    expect((await onHost('/hit'))[0]).toBe(200)
    const ttl = await host.shared.ttl(`rate-limit:${IP}`)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(timeWindow)
    // No request meanwhile: only the key's ttl can end the window.
    await waitFor(async () => !(await host.shared.has(`rate-limit:${IP}`)), 10000, 'the window to end')
    expect(await onClient('/hit')).toEqual([200, '1'])
  })

  test('past the max, the window keeps its end by default and restarts with continueExceeding', async () => {
    const [host, client] = await pair()
    const timeWindow = 60000
    for (const continueExceeding of [false, true]) {
      const key = `continue-${String(continueExceeding)}`
      const store = rateLimitStore(client.shared, { continueExceeding })
      await store.incr(key, timeWindow, 1)
      // Most of the window has gone by.
      await host.shared.expire(`rate-limit:${key}`, 5000)
      const exceeded = await store.incr(key, timeWindow, 1)
      const left = await host.shared.ttl(`rate-limit:${key}`)
      expect(exceeded.current).toBe(2)
      if (continueExceeding) {
        expect(exceeded.ttl).toBe(timeWindow)
        expect(left).toBeGreaterThan(5000)
      } else {
        expect(exceeded.ttl).toBeLessThanOrEqual(5000)
        expect(left).toBeLessThanOrEqual(5000)
      }
    }
  })

  test('exponentialBackoff doubles the window with each request past the max', async () => {
    const [host, client] = await pair()
    const store = rateLimitStore(client.shared, { exponentialBackoff: true })
    const hits = []
    for (let i = 0; i < 4; i++) hits.push(await store.incr('backoff', 1000, 1))
    expect(hits.map((hit) => hit.current)).toEqual([1, 2, 3, 4])
    expect(hits[0]?.ttl).toBeLessThanOrEqual(1000)
    expect(hits.slice(1).map((hit) => hit.ttl)).toEqual([1000, 2000, 4000])
    const left = await host.shared.ttl('rate-limit:backoff')
    expect(left).toBeGreaterThan(2000)
    expect(left).toBeLessThanOrEqual(4000)
  })

  test('read() reports the count and the window left without counting', async () => {
    const [host, client] = await pair()
    const store = rateLimitStore(client.shared)
    expect(await store.read('reader', 60000)).toEqual({ current: 0, ttl: 0 })
    await store.incr('reader', 60000, 10)
    await store.incr('reader', 60000, 10)
    for (let i = 0; i < 2; i++) {
      const read = await store.read('reader', 60000)
      expect(read.current).toBe(2)
      expect(read.ttl).toBeGreaterThan(0)
      expect(read.ttl).toBeLessThanOrEqual(60000)
    }
    expect(await host.shared.get('rate-limit:reader')).toBe(2)
  })

  test('child(): a route with its own limit counts under its own key, in every app', async () => {
    const apps = await pair()
    for (const app of apps) {
      await app.register(fastifyRateLimit, { max: 5, timeWindow: 60000, store: sharedRateLimitStore(app.shared) })
      const own = { config: { rateLimit: { max: 1, timeWindow: 60000 } } }
      app.get('/a', own, async () => 'a')
      app.get('/b', own, async () => 'b')
      app.get('/global', async () => 'global')
    }
    const [host, client] = apps
    const [onHost, onClient] = [await serve(host), await serve(client)]
    expect((await onHost('/a'))[0]).toBe(200)
    expect((await onClient('/a'))[0]).toBe(429)
    expect((await onClient('/b'))[0]).toBe(200)
    expect((await onHost('/b'))[0]).toBe(429)
    expect(await onClient('/global')).toEqual([200, '4'])
    expect((await host.shared.keys('rate-limit:')).sort()).toEqual([
      `rate-limit:${IP}`, `rate-limit:GET/a:${IP}`, `rate-limit:GET/b:${IP}`
    ])
  })
})

describe('SharedSessionStore', () => {
  type SessionData = Record<string, unknown>

  /** The store's callback API as promises. */
  function sessions (shared: SharedMap, options?: { prefix?: string, ttl?: number }) {
    const store = new SharedSessionStore(shared, options)
    const settle = <T>(run: (callback: (error?: Error | null, result?: T) => void) => void): Promise<T | undefined> =>
      new Promise((resolve, reject) => run((error, result) => { if (error === undefined || error === null) resolve(result); else reject(error) }))
    return {
      set: (id: string, session: SessionData) => settle<void>((callback) => store.set(id, session, callback)),
      get: (id: string) => settle<unknown>((callback) => store.get(id, callback)),
      destroy: (id: string) => settle<void>((callback) => store.destroy(id, callback))
    }
  }

  test('set on one app, get on the other, destroy: the session is shared and then gone', async () => {
    const [host, client] = await pair()
    const session = { cookie: { maxAge: 60000, path: '/' }, user: 'ada', visits: [1, 2] }
    await sessions(client.shared).set('s1', session)
    expect(await sessions(host.shared).get('s1')).toEqual(session)
    await sessions(host.shared).destroy('s1')
    expect(await sessions(client.shared).get('s1')).toBeNull()
    expect(await host.shared.has('session:s1')).toBe(false)
    expect(await sessions(host.shared).get('never-set')).toBeNull()
  })

  test('the key\'s ttl is the cookie\'s max age, else what its expiry leaves, else the ttl option', async () => {
    const [host, client] = await pair()
    const store = sessions(client.shared)
    await store.set('by-max-age', { cookie: { maxAge: 20000 } })
    await store.set('by-expires', { cookie: { expires: new Date(Date.now() + 30000).toISOString() } })
    await sessions(client.shared, { ttl: 45000 }).set('by-option', { cookie: {} })
    await store.set('by-default', { cookie: { maxAge: null, expires: null } })
    const ttls = await Promise.all(['by-max-age', 'by-expires', 'by-option', 'by-default'].map((id) => host.shared.ttl(`session:${id}`)))
    for (const ttl of ttls) expect(ttl).toBeGreaterThan(0)
    const [byMaxAge, byExpires, byOption, byDefault] = ttls as [number, number, number, number]
    expect(byMaxAge).toBeLessThanOrEqual(20000)
    expect(byExpires).toBeLessThanOrEqual(30000)
    expect(byExpires).toBeGreaterThan(20000)
    expect(byOption).toBeLessThanOrEqual(45000)
    expect(byOption).toBeGreaterThan(30000)
    // The default: a day.
    expect(byDefault).toBeLessThanOrEqual(24 * 60 * 60 * 1000)
    expect(byDefault).toBeGreaterThan(60 * 60 * 1000)
  })

  test('a session whose cookie has already expired leaves the map at once', async () => {
    const [host, client] = await pair()
    await sessions(client.shared).set('stale', { cookie: { expires: new Date(Date.now() - 1000).toISOString() } })
    await waitFor(async () => !(await host.shared.has('session:stale')), 5000, 'the stale session to expire')
    expect(await sessions(client.shared).get('stale')).toBeNull()
  })

  test('the prefix option names the keys', async () => {
    const [host, client] = await pair()
    await sessions(client.shared, { prefix: 'sess/' }).set('p1', { cookie: { maxAge: 60000 } })
    expect(await host.shared.keys()).toEqual(['sess/p1'])
  })

  test('a value under the prefix that is not a session reaches the callback as an error', async () => {
    const [host, client] = await pair()
    await host.shared.set('session:garbled', 'not { json')
    const answers: unknown[][] = []
    new SharedSessionStore(client.shared).get('garbled', (...answer) => { answers.push(answer) })
    // Bounded: a callback never called leaves @fastify/session's request hanging.
    await waitFor(() => answers.length > 0, 5000, 'the callback')
    expect(answers).toHaveLength(1)
    expect(answers[0]?.[0]).toBeInstanceOf(SyntaxError)
  })
})

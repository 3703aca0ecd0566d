import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import sharedState, { type SharedStateOptions } from '../../lib'
import { freePort } from '../helpers/ports'
import { ROOT, TEST_KEY, waitFor } from '../helpers/processes'
import { redisForThisFile, uniquePrefix } from '../helpers/redis'
import { Teardown } from '../helpers/teardown'

// Redis mode as a Fastify user meets it, in this process: the `redis` option as a URL or a client,
// what the plugin opens and closes, the key layout, expiry events, and a Redis that goes away.

const teardown = new Teardown()
const redis = redisForThisFile()

afterEach(() => teardown.run())

/** A direct client to the test's redis-server, to look at what the plugin wrote. */
async function inspector (): Promise<Redis> {
  const client = new Redis(redis().url, { lazyConnect: true })
  await client.connect()
  teardown.add(() => client.quit())
  return client
}

async function app (options: SharedStateOptions): Promise<FastifyInstance> {
  const instance = Fastify()
  teardown.add(() => instance.close())
  await instance.register(sharedState, options)
  return instance
}

/** Connections the server has open, told apart by the plugin's connections' names. */
async function connectionCount (client: Redis): Promise<number> {
  const list = String(await client.client('LIST'))
  return list.split('\n').filter((line) => line.trim().length > 0).length
}

describe('the redis option', () => {
  test('keys live under the prefix; locks and counters are not map keys', async () => {
    const prefix = uniquePrefix()
    const shared = (await app({ redis: redis().url, prefix })).shared
    await shared.set('greeting', 'hello')
    const handle = await shared.lock('job').acquire()
    const raw = await inspector()
    const keys = (await raw.keys(`${prefix}*`)).sort()
    expect(keys).toEqual([`${prefix}clock`, `${prefix}fence:job`, `${prefix}lock:job`, `${prefix}map:greeting`])
    expect(await shared.keys()).toEqual(['greeting'])
    expect(await shared.size()).toBe(1)
    await handle.release()
    await shared.clear()
    expect(await raw.exists(`${prefix}fence:job`)).toBe(1)
  })

  test('glob characters in keys and prefixes are matched literally', async () => {
    const shared = (await app({ redis: redis().url, prefix: `${uniquePrefix()}[a]*` })).shared
    await shared.set('a*b', 1)
    await shared.set('a?c', 2)
    await shared.set('ab', 3)
    expect(await shared.keys('a*')).toEqual(['a*b'])
    expect((await shared.keys()).sort()).toEqual(['a*b', 'a?c', 'ab'])
  })

  test('a URL: the plugin opens its connections and closes them on app.close()', async () => {
    const raw = await inspector()
    const before = await connectionCount(raw)
    const instance = Fastify()
    await instance.register(sharedState, { redis: redis().url, prefix: uniquePrefix() })
    expect(await connectionCount(raw)).toBe(before + 2)
    await instance.close()
    await waitFor(async () => (await connectionCount(raw)) === before, 5000, 'the connections to close')
  })

  test('a client the user passed is left open, and its keyPrefix is kept', async () => {
    const client = new Redis(redis().url, { keyPrefix: 'app:' })
    teardown.add(() => client.quit())
    const prefix = uniquePrefix()
    const instance = Fastify()
    await instance.register(sharedState, { redis: client, prefix })
    await instance.shared.set('k', 'v')
    await instance.close()
    expect(client.status).toBe('ready')
    // The user's client still works, and sees the value under its own prefix.
    expect(await client.exists(`${prefix}map:k`)).toBe(1)
    expect(await (await inspector()).exists(`app:${prefix}map:k`)).toBe(1)
  })

  test('registration fails with FST_SHARED_STATE_CONNECT_TIMEOUT after connectTimeout when Redis is unreachable', async () => {
    const port = await freePort()
    const instance = Fastify()
    teardown.add(() => instance.close().catch(() => {}))
    const started = Date.now()
    const error = await instance.register(sharedState, { redis: `redis://127.0.0.1:${port}`, connectTimeout: 500 })
      .ready().then(() => undefined, (e: Error & { code?: string }) => e)
    expect(error?.code).toBe('FST_SHARED_STATE_CONNECT_TIMEOUT')
    // It waited connectTimeout (a timer never fires early); how much longer depends on the machine.
    expect(Date.now() - started).toBeGreaterThanOrEqual(450)
  })

  test('the socket mode never loads ioredis', async () => {
    const port = await freePort()
    const script = `
      const app = require('fastify')()
      app.register(require(${JSON.stringify(join(ROOT, 'dist'))}).sharedState, { port: ${port}, key: ${JSON.stringify(TEST_KEY)} })
      app.ready().then(async () => {
        console.log(Object.keys(require.cache).some((file) => file.includes('/node_modules/ioredis/')))
        await app.close()
      })`
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { cwd: ROOT })
    expect(stdout.trim()).toBe('false')
  })
})

describe('watch', () => {
  test('a key that expires in Redis is an expire event', async () => {
    const prefix = uniquePrefix()
    const a = (await app({ redis: redis().url, prefix })).shared
    const b = (await app({ redis: redis().url, prefix })).shared
    const events: unknown[] = []
    const stop = await a.watch('session:', (event) => events.push(event))
    teardown.add(stop)
    await b.set('session:1', 'x', { ttl: 50 })
    await waitFor(() => events.length >= 2, 5000, 'the expire event')
    expect(events).toEqual([{ type: 'set', key: 'session:1', value: 'x' }, { type: 'expire', key: 'session:1' }])
  })

  test('clear reaches every watcher, whatever its prefix', async () => {
    const prefix = uniquePrefix()
    const a = (await app({ redis: redis().url, prefix })).shared
    const events: unknown[] = []
    teardown.add(await a.watch('only:', (event) => events.push(event)))
    await a.set('other', 1)
    await a.clear()
    await waitFor(() => events.length >= 1, 5000, 'the clear event')
    expect(events).toEqual([{ type: 'clear', key: '' }])
  })
})

describe('Redis goes away and comes back', () => {
  test('calls reject within timeout with a coded error, never hang, and succeed again afterwards', async () => {
    const prefix = uniquePrefix()
    const timeout = 800
    const instance = await app({ redis: redis().url, prefix, timeout })
    const { shared } = instance
    await shared.set('n', 1)
    await redis().kill()
    teardown.add(async () => { if (redis().pid === undefined) await redis().restart() })

    const calls = [
      () => shared.get('n'), () => shared.incr('n'), () => shared.set('n', 2), () => shared.setIn(['o', 'a'], 1),
      () => shared.keys(), () => shared.lock('job').acquire({ timeout: 5000 }), () => shared.lock('job').isLocked()
    ]
    for (const call of calls) {
      const started = Date.now()
      const error = await call().then(() => undefined, (e: Error & { code?: string }) => e)
      expect(['FST_SHARED_STATE_HOST_LOST', 'FST_SHARED_STATE_TIMEOUT']).toContain(error?.code)
      expect(Date.now() - started).toBeLessThan(timeout + 1000)
    }

    await redis().restart()
    await waitFor(async () => await shared.incr('n').then(() => true, () => false), 10000, 'calls to succeed again')
    const handle = await shared.lock('job').acquire()
    await handle.release()
    expect(await shared.get('n')).toBe(1)
  })
})

describe('stats', () => {
  test('the Redis server as host, the workers of this namespace, its keys and locks', async () => {
    const prefix = uniquePrefix()
    const a = (await app({ redis: redis().url, prefix })).shared
    const b = (await app({ redis: redis().url, prefix })).shared
    await (await app({ redis: redis().url, prefix: uniquePrefix() })).shared.set('elsewhere', 1)
    await a.set('one', 1)
    await a.incr('two')
    const handle = await b.lock('job').acquire()
    const stats = await a.stats()
    expect(stats.role).toBe('redis')
    expect(stats.host).toEqual({ address: `127.0.0.1:${redis().port}`, pid: redis().pid })
    expect(stats.workers).toHaveLength(2)
    expect(stats.workers.every((worker) => worker.pid === process.pid)).toBe(true)
    expect(stats.keys).toBe(2)
    expect(stats.locks.held).toBe(1)
    expect(stats.failovers).toBe(0)
    await handle.release()
  })
})

describe('counters', () => {
  test('incr with a ttl: a key it creates expires, an existing key keeps its expiry', async () => {
    const shared = (await app({ redis: redis().url, prefix: uniquePrefix() })).shared
    expect(await shared.incr('window', 1, { ttl: 60000 })).toBe(1)
    expect(await shared.ttl('window')).toBeGreaterThan(50000)
    await shared.set('plain', 1)
    expect(await shared.incr('plain', 1, { ttl: 60000 })).toBe(2)
    expect(await shared.ttl('plain')).toBe(-1)
  })
})

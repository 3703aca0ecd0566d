import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { request } from 'undici'
import sharedState, { type SharedStateOptions } from '../../lib'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startWorker, type WorkerEnv, type WorkerProcess } from '../helpers/worker-process'

// Registration, losing the host, and closing. Some tests run the plugin in this very process
// (registration errors, open handles); the host lost is a real process killed with SIGKILL.

const teardown = new Teardown()
afterEach(() => teardown.run())

/** A Fastify app in this process; closed by teardown. */
function inProcessApp (): FastifyInstance {
  const app = Fastify()
  teardown.add(() => app.close())
  return app
}

/** True when nothing listens on `port`: the plugin released (or never took) its socket. */
function portIsFree (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)))
  })
}

describe('registration', () => {
  test('registering twice on one instance fails with FST_SHARED_STATE_ALREADY_REGISTERED', async () => {
    const port = await freePort()
    const app = inProcessApp()
    app.register(sharedState, { port, key: TEST_KEY })
    app.register(sharedState, { port, key: TEST_KEY })
    await expect(app.ready()).rejects.toMatchObject({ code: 'FST_SHARED_STATE_ALREADY_REGISTERED' })
    await app.close()
    // The first registration's host socket is closed with the app.
    expect(await portIsFree(port)).toBe(true)
  })

  test('registering again in a child context fails the same way', async () => {
    const port = await freePort()
    const app = inProcessApp()
    app.register(sharedState, { port, key: TEST_KEY })
    app.register(async (child) => { await child.register(sharedState, { port, key: TEST_KEY }) })
    await expect(app.ready()).rejects.toMatchObject({ code: 'FST_SHARED_STATE_ALREADY_REGISTERED' })
  })

  const badOptions: Array<[string, string, (port: number) => Record<string, unknown>]> = [
    ['key', 'missing', (port) => ({ port })],
    ['key', 'empty', (port) => ({ port, key: '' })],
    ['key', 'a number', (port) => ({ port, key: 42 })],
    ['port', 'missing', () => ({ key: TEST_KEY })],
    ['port', 'a string', () => ({ port: '35791', key: TEST_KEY })],
    ['port', 'out of range', () => ({ port: 70000, key: TEST_KEY })],
    ['prot', 'unknown', (port) => ({ port, key: TEST_KEY, prot: 2 })],
    ['host', 'empty', (port) => ({ port, key: TEST_KEY, host: '' })],
    ['path', 'empty', () => ({ path: '', key: TEST_KEY })],
    ['path', 'given with a port', (port) => ({ path: '/tmp/x.sock', port, key: TEST_KEY })],
    ['timeout', 'negative', (port) => ({ port, key: TEST_KEY, timeout: -1 })],
    ['connectTimeout', 'fractional', (port) => ({ port, key: TEST_KEY, connectTimeout: 1.5 })],
    ['handshakeTimeout', 'a string', (port) => ({ port, key: TEST_KEY, handshakeTimeout: '5000' })],
    ['maxFrameBytes', 'zero', (port) => ({ port, key: TEST_KEY, maxFrameBytes: 0 })],
    ['defaults', 'an array', (port) => ({ port, key: TEST_KEY, defaults: [1, 2] })],
    ['persist', 'a string', (port) => ({ port, key: TEST_KEY, persist: 'state.log' })],
    ['persist.file', 'empty', (port) => ({ port, key: TEST_KEY, persist: { file: '' } })],
    ['persist.fsync', 'not a policy', (port) => ({ port, key: TEST_KEY, persist: { file: 'state.log', fsync: 'sometimes' } })],
    ['persist.fsnyc', 'unknown', (port) => ({ port, key: TEST_KEY, persist: { file: 'state.log', fsnyc: 'always' } })],
    ['redis', 'not a redis URL', () => ({ redis: 'http://127.0.0.1:6379' })],
    ['prefix', 'without redis', (port) => ({ port, key: TEST_KEY, prefix: 'app:' })]
  ]

  test.each(badOptions)('option "%s" (%s) fails registration with FST_SHARED_STATE_OPTIONS naming it', async (option, _, options) => {
    const port = await freePort()
    const app = inProcessApp()
    app.register(sharedState, options(port) as SharedStateOptions)
    const error = await app.ready().then(() => undefined, (error: unknown) => error)
    expect(error).toMatchObject({ code: 'FST_SHARED_STATE_OPTIONS', message: expect.stringContaining(`"${option}"`) })
    // Validation comes before the election: nothing was bound.
    expect(await portIsFree(port)).toBe(true)
  })
})

describe('when the host process is killed and no other host can take its place', () => {
  // The socket path is taken by a plain file while the host still serves (a listening unix socket
  // outlives its path), so once the host is killed no worker can bind or reach a host there. A
  // client then answers HOST_LOST whether it gives up at once or after trying to elect a new host
  // for up to its `timeout` (failover, API.md): the error does not depend on which it does.
  const TIMEOUT = 1000

  async function hostThatCannotBeReplaced (env: WorkerEnv = {}): Promise<{ host: WorkerProcess, client: WorkerProcess, path: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'shared-state-'))
    teardown.add(() => rm(dir, { recursive: true, force: true }))
    const path = join(dir, 'manager.sock')
    const options = { path, key: TEST_KEY, timeout: TIMEOUT, connectTimeout: TIMEOUT }
    const host = await startWorker(teardown, options)
    expect(host.role).toBe('host')
    const client = await startWorker(teardown, options, env)
    expect(client.role).toBe('client')
    expect(await client.call('incr', 'n')).toBe(1)
    return { host, client, path }
  }

  async function killForGood (host: WorkerProcess, path: string): Promise<void> {
    await rm(path)
    await writeFile(path, 'not a socket')
    await host.kill('SIGKILL')
  }

  test('a client\'s pending and new calls reject with FST_SHARED_STATE_HOST_LOST', async () => {
    const { host, client, path } = await hostThatCannotBeReplaced()
    // A call the host has received and not answered: a wait for a lock the host holds. Its wait
    // (3 s) outlasts the moment the host is killed.
    await host.call('acquire')
    const pending = client.call('acquire', 'default', { timeout: 3 * TIMEOUT })
    pending.catch(() => {})
    await client.call('has', 'barrier')

    await killForGood(host, path)
    await expect(pending).rejects.toMatchObject({ code: 'FST_SHARED_STATE_HOST_LOST' })
    const failures = await Promise.all(['get', 'incr', 'keys', 'isLocked'].map((method) => client.failure(method, 'n')))
    for (const failure of failures) expect(failure).toMatchObject({ code: 'FST_SHARED_STATE_HOST_LOST' })
  })

  test('an HTTP route that lets that error escape answers 503', async () => {
    const httpPort = await freePort()
    const { host, path } = await hostThatCannotBeReplaced({ HTTP_PORT: String(httpPort), LOG_LEVEL: 'fatal' })
    const get = async (route: string): Promise<{ status: number, body: string }> => {
      const response = await request(`http://127.0.0.1:${httpPort}${route}`)
      return { status: response.statusCode, body: await response.body.text() }
    }
    expect(await get('/incr/n')).toEqual({ status: 200, body: '2' })

    await killForGood(host, path)
    for (const answer of await Promise.all(['/incr/n', '/get/n'].map(get))) {
      expect(answer.status).toBe(503)
      expect(JSON.parse(answer.body)).toMatchObject({ statusCode: 503, code: 'FST_SHARED_STATE_HOST_LOST' })
    }
  })
})

describe('app.close()', () => {
  /** Handles and timers Node keeps open, by kind (fs requests and immediates come and go). */
  function openResources (): string[] {
    return process.getActiveResourcesInfo().filter((kind) => kind !== 'FSReqCallback' && kind !== 'Immediate')
  }

  /** What is open now and was not in `before` (the runner's own timers and pipes are in both). */
  function leaked (before: string[]): string[] {
    const left = [...before]
    return openResources().filter((kind) => {
      const index = left.indexOf(kind)
      if (index < 0) return true
      left.splice(index, 1)
      return false
    })
  }

  test.each([['clients first', false], ['the host first', true]])('on host and client (%s) leaves no open handles', async (_, hostFirst) => {
    const before = openResources()
    const port = await freePort()
    const host = Fastify()
    teardown.add(() => host.close())
    await host.register(sharedState, { port, key: TEST_KEY }).ready()
    const client = Fastify()
    teardown.add(() => client.close())
    await client.register(sharedState, { port, key: TEST_KEY }).ready()
    expect([host.shared.role, client.shared.role]).toEqual(['host', 'client'])

    // Leave behind every kind of timer and wait the plugin has: ttls, a lease, a watch, a lock
    // wait still queued, a held lock.
    await client.shared.set('short', 1, { ttl: 60000 })
    await host.shared.set('long', 2, { ttl: 120000 })
    await client.shared.watch('', () => {})
    await host.shared.watch('', () => {})
    const held = await client.sharedLock.acquire({ ttl: 60000 })
    const waiting = host.sharedLock.acquire({ timeout: 60000 })
    waiting.catch(() => {})
    await host.shared.lock('other').acquire({ ttl: 60000 })
    const clientWaiting = client.shared.lock('other').acquire({ timeout: 60000 })
    clientWaiting.catch(() => {})
    expect(held.token).toBeGreaterThan(0)
    expect(await client.shared.lock('other').isLocked()).toBe(true)

    if (hostFirst) {
      await host.close()
      await client.close()
    } else {
      await client.close()
      await host.close()
    }
    // Each wait ends one way or the other (granted when the holder left first, refused when its
    // own worker closed): none is left hanging on a timer.
    await Promise.allSettled([waiting, clientWaiting])
    // A socket's close completes a moment after close() returns; anything still open after a
    // while is a leak.
    await waitFor(() => leaked(before).length === 0, 5000, 'the handles to close').catch(() => {})
    expect(leaked(before)).toEqual([])
    expect(await portIsFree(port)).toBe(true)
  })
})

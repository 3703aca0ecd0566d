import { randomBytes } from 'node:crypto'
import { runInspect } from '../helpers/inspect'
import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { Relay } from '../helpers/relay'
import { Teardown } from '../helpers/teardown'
import { startFailure, startWorker } from '../helpers/worker-process'

// `tls: true` across processes: every connection is TLS-PSK keyed from the shared key, no
// certificate made. A worker that does not speak it, or holds another key, is refused with a
// coded error; a relay in between carries only ciphertext.

const teardown = new Teardown()
afterEach(() => teardown.run())

test('over tls, two processes share values, counters and a lock', async () => {
  const port = await freePort()
  const options = { port, key: TEST_KEY, tls: true }
  const host = await startWorker(teardown, options)
  const client = await startWorker(teardown, options)
  expect([host.role, client.role]).toEqual(['host', 'client'])
  await client.call('set', 'user', { name: 'alice', since: new Date(0) })
  expect(await host.call('get', 'user')).toEqual({ name: 'alice', since: new Date(0) })
  const counts = await Promise.all([host.call<number[]>('many', 'incr', 50, 'n'), client.call<number[]>('many', 'incr', 50, 'n')])
  expect(counts.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
  const sections = await Promise.all([host, client].map((worker) =>
    worker.call<{ most: number, tokens: number[] }>('lockedSections', 'tls', 8)))
  for (const { most } of sections) expect(most).toBe(1)
  expect(new Set(sections.flatMap(({ tokens }) => tokens)).size).toBe(16)
  expect(await host.call('get', 'sections:tls')).toBe(16)
  // The inspect command speaks it too.
  const inspect = await runInspect(teardown, ['inspect', '--port', String(port), '--tls', '--get', 'user', '--json'], TEST_KEY)
  expect(inspect.code).toBe(0)
  expect(JSON.parse(inspect.stdout).value).toEqual({ name: 'alice', since: new Date(0).toISOString() })
})

test('a worker without tls, or with another key, is refused by a tls host with a coded error', async () => {
  const port = await freePort()
  const host = await startWorker(teardown, { port, key: TEST_KEY, tls: true })
  const plain = await startFailure({ port, key: TEST_KEY, connectTimeout: 1500 })
  expect(plain.code).toBe('FST_SHARED_STATE_PORT_TAKEN')
  expect(plain.message).toContain('TLS handshake')
  const otherKey = await startFailure({ port, key: 'another-key-0123456789abcdef', tls: true })
  expect(otherKey.code).toBe('FST_SHARED_STATE_AUTH')
  expect(await host.call('size')).toBe(0)
})

test('a tls worker is refused by a host without tls with FST_SHARED_STATE_AUTH', async () => {
  const port = await freePort()
  await startWorker(teardown, { port, key: TEST_KEY })
  const failure = await startFailure({ port, key: TEST_KEY, tls: true })
  expect(failure.code).toBe('FST_SHARED_STATE_AUTH')
})

test('over tls, a relay in between carries the session but reads none of it', async () => {
  const hostPort = await freePort()
  const relayPort = await freePort()
  const host = await startWorker(teardown, { port: hostPort, key: TEST_KEY, tls: true })
  // This relay injects nothing: into a TLS stream, any byte of its own only breaks the session.
  const relay = await Relay.listen({ port: relayPort }, { port: hostPort }, Buffer.alloc(0), teardown)
  const client = await startWorker(teardown, { port: relayPort, key: TEST_KEY, tls: true })
  expect(client.role).toBe('client')
  const secret = `s3cret-${randomBytes(12).toString('hex')}`
  await client.call('set', 'session:alice', { token: secret })
  expect(await host.call('get', 'session:alice')).toEqual({ token: secret })
  expect(relay.accepted).toBe(1)
  expect(relay.captured.length).toBeGreaterThan(0)
  expect(relay.captured.includes(Buffer.from(secret))).toBe(false)
})

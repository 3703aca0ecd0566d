import { readFile } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { localSocketName } from '../../lib/local-socket'
import { opCode, REPLY_ERROR, REPLY_OK } from '../../lib/protocol/messages'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { RawPeer } from '../helpers/raw-peer'
import { Teardown } from '../helpers/teardown'
import { startWorker } from '../helpers/worker-process'

// On Linux, a host on a loopback port also listens on an abstract unix socket named after it, and
// workers connect there first (lib/local-socket.ts). These tests look at the real sockets in
// /proc/net/unix, and at what happens when a stranger holds the name.

const teardown = new Teardown()
afterEach(() => teardown.run())

/** Lines of /proc/net/unix for the local socket of `port`: the listener and accepted connections. */
async function localSockets (port: number): Promise<{ listening: number, connected: number }> {
  const table = await readFile('/proc/net/unix', 'utf8')
  const name = `@fastify-shared-state:127.0.0.1:${port}@`
  const lines = table.split('\n').filter((line) => line.includes(name))
  // Columns: Num RefCount Protocol Flags Type St Inode Path; flag 00010000 marks a listener.
  const listening = lines.filter((line) => line.trim().split(/\s+/)[3] === '00010000').length
  return { listening, connected: lines.length - listening }
}

test('workers of a loopback host talk to it over its local socket, not TCP', async () => {
  expect(process.platform).toBe('linux')
  const port = await freePort()
  const options = { port, key: TEST_KEY }
  const host = await startWorker(teardown, options)
  const clients = [await startWorker(teardown, options), await startWorker(teardown, options)]
  expect([host.role, ...clients.map((client) => client.role)]).toEqual(['host', 'client', 'client'])
  expect(await localSockets(port)).toEqual({ listening: 1, connected: 2 })
  const counts = await Promise.all([host, ...clients].map((worker) => worker.call<number>('incr', 'n')))
  expect(counts.sort()).toEqual([1, 2, 3])
})

test('when the host goes, the local socket goes with it and the next host listens there', async () => {
  const port = await freePort()
  const options = { port, key: TEST_KEY, connectTimeout: 5000 }
  const host = await startWorker(teardown, options)
  const client = await startWorker(teardown, options)
  await client.call('set', 'k', 1)
  await host.kill('SIGKILL')
  // The client elects itself (the only one left) and hosts: a later worker joins it locally.
  await expect(client.call('set', 'k', 2)).resolves.toBeUndefined()
  expect(await client.call('role')).toBe('host')
  const late = await startWorker(teardown, options)
  expect(late.role).toBe('client')
  expect(await late.call('get', 'k')).toBe(2)
  expect(await localSockets(port)).toEqual({ listening: 1, connected: 1 })
})

/** Listens on the local socket name of `port` first, as a stranger; each connection gets `greet`. */
async function squat (port: number, greet: (socket: Socket) => void): Promise<Server> {
  const name = localSocketName({ kind: 'tcp', host: '127.0.0.1', port }) as string
  const server = createServer(greet)
  await new Promise<void>((resolve) => server.listen({ path: name }, resolve))
  teardown.add(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return server
}

test.each([
  ['says nothing', (socket: Socket) => { socket.on('error', () => {}) }],
  ['sends garbage', (socket: Socket) => { socket.on('error', () => {}); socket.end(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')) }]
])('a stranger holding the local socket name (it %s) costs the workers nothing: they use TCP', async (_what, greet) => {
  const port = await freePort()
  await squat(port, greet)
  const options = { port, key: TEST_KEY }
  const host = await startWorker(teardown, options)
  const client = await startWorker(teardown, options)
  expect([host.role, client.role]).toEqual(['host', 'client'])
  expect(await client.call('incr', 'n')).toBe(1)
  expect(await host.call('incr', 'n')).toBe(2)
  // Only the stranger's listener is there: the host could not take the name and serves TCP.
  expect((await localSockets(port)).listening).toBe(1)
})

test('the local socket guards the host as its port does: a wrong key or garbage closes that connection alone', async () => {
  const port = await freePort()
  const options = { port, key: TEST_KEY }
  const host = await startWorker(teardown, options)
  const client = await startWorker(teardown, options)
  const path = localSocketName({ kind: 'tcp', host: '127.0.0.1', port }) as string

  const wrongKey = await RawPeer.connect({ path }, teardown)
  await expect(wrongKey.handshake('not-the-key-0123456789')).rejects.toThrow()
  await waitFor(() => wrongKey.closed, 5000, 'the host to close a peer with the wrong key')

  const garbage = await RawPeer.connect({ path }, teardown)
  garbage.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
  await waitFor(() => garbage.closed, 5000, 'the host to close a peer that sent garbage')

  const authenticated = await RawPeer.connect({ path }, teardown)
  await authenticated.handshake(TEST_KEY)
  expect(await authenticated.request(opCode('incr'), 'n', Infinity)).toEqual([expect.any(Number), REPLY_ERROR, 'FST_SHARED_STATE_PROTOCOL', expect.any(String)])
  expect(await authenticated.request(opCode('incr'), 'n', 1, 0)).toEqual([expect.any(Number), REPLY_OK, 1])
  expect(await client.call('incr', 'n')).toBe(2)
  expect(await host.call('incr', 'n')).toBe(3)
})

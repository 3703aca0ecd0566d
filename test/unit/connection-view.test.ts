import { once } from 'node:events'
import { mkdtemp, rename, rm } from 'node:fs/promises'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { clientView, hostView, socketFileId, unixView } from '../../lib/connection-view'
import { ManagerServer } from '../../lib/local-socket'

// Both ends of one direct connection compute the same view; two connections never do.

const closers: Array<() => unknown> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

async function serve (server: Server, listen: (server: Server) => void): Promise<Socket[]> {
  const accepted: Socket[] = []
  server.on('connection', (socket: Socket) => accepted.push(socket))
  listen(server)
  await once(server, 'listening')
  closers.push(() => new Promise((resolve) => server.close(resolve)))
  closers.push(() => { for (const socket of accepted) socket.destroy() })
  return accepted
}

async function dial (target: string | number): Promise<Socket> {
  const socket = typeof target === 'number' ? connect(target, '127.0.0.1') : connect(target)
  closers.push(() => socket.destroy())
  await once(socket, 'connect')
  return socket
}

test('TCP: the host and the worker see one connection alike, and a second one differently', async () => {
  const server = createServer()
  const accepted = await serve(server, (s) => s.listen(0, '127.0.0.1'))
  const { port } = server.address() as AddressInfo
  const first = await dial(port)
  const second = await dial(port)
  await new Promise((resolve) => setImmediate(resolve))
  const hostViews = accepted.map(hostView)
  expect(hostViews).toContain(clientView(first, undefined))
  expect(hostViews).toContain(clientView(second, undefined))
  expect(clientView(first, undefined)).not.toBe(clientView(second, undefined))
  expect(clientView(first, undefined)).toMatch(/^tcp 127\.0\.0\.1:\d+ > 127\.0\.0\.1:\d+$/)
})

test('a path socket is known by its file: the host\'s record matches the worker\'s stat until the file is replaced', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'connection-view-'))
  closers.push(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 's.sock')
  const accepted = await serve(new ManagerServer({}), (s) => s.listen(path))
  await dial(path)
  await new Promise((resolve) => setImmediate(resolve))
  const recorded = socketFileId(path)
  expect(hostView(accepted[0] as Socket)).toBe(unixView(path, recorded))
  await rename(path, `${path}.moved`)
  await serve(createServer(), (s) => s.listen(path))
  expect(socketFileId(path)).not.toBe(recorded)
  expect(unixView(path, socketFileId(path))).not.toBe(hostView(accepted[0] as Socket))
})

test('an abstract name is known by its name; no file identity', () => {
  expect(socketFileId('\0fastify-shared-state:127.0.0.1:1')).toBeUndefined()
  expect(unixView('\0fastify-shared-state:127.0.0.1:1', undefined)).toBe('unix @fastify-shared-state:127.0.0.1:1')
})

import { createServer, connect, type Server, type Socket } from 'node:net'
import { EarlyConnections } from '../../lib/host/early-connections'

// Connections held while a new host opens its state: bounded, the oldest dropped at the cap, the
// rest handed on once the host is ready. Real sockets on loopback.

let server: Server
const clients: Socket[] = []

beforeEach(async () => {
  server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
})

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy()
  await new Promise((resolve) => server.close(resolve))
})

async function connectClients (count: number): Promise<Socket[]> {
  const { port } = server.address() as { port: number }
  const opened = Array.from({ length: count }, () => connect(port, '127.0.0.1'))
  clients.push(...opened)
  await Promise.all(opened.map((client) => new Promise((resolve) => client.once('connect', resolve))))
  return opened
}

async function waitForHeld (early: EarlyConnections, accepted: () => number, count: number): Promise<void> {
  while (accepted() < count) await new Promise((resolve) => setImmediate(resolve))
  expect(early.size).toBeLessThanOrEqual(count)
}

test('at the cap the oldest held connection is closed; the newest are handed on in order', async () => {
  const early = new EarlyConnections(3)
  let accepted = 0
  const order: number[] = []
  server.on('connection', (socket) => { order.push(socket.remotePort as number); accepted++; early.hold(socket) })
  const opened = await connectClients(5)
  await waitForHeld(early, () => accepted, 5)
  expect(early.size).toBe(3)
  // The two oldest were closed by the host side.
  const closedByHost = opened.filter((client) => client.localPort === order[0] || client.localPort === order[1])
  await Promise.all(closedByHost.map((client) => new Promise((resolve) => { client.once('close', resolve); client.resume() })))
  const adopted: number[] = []
  early.release((socket) => adopted.push(socket.remotePort as number))
  expect(adopted).toEqual(order.slice(2))
  expect(early.size).toBe(0)
})

test('destroyAll closes every held connection', async () => {
  const early = new EarlyConnections(10)
  let accepted = 0
  server.on('connection', (socket) => { accepted++; early.hold(socket) })
  const opened = await connectClients(4)
  await waitForHeld(early, () => accepted, 4)
  const closed = opened.map((client) => new Promise((resolve) => { client.once('close', resolve); client.resume() }))
  early.destroyAll()
  await Promise.all(closed)
  expect(early.size).toBe(0)
})

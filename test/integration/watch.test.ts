import Fastify, { type FastifyInstance } from 'fastify'
import sharedState from '../../lib'
import { opCode, PUSH_CHANGE, PUSH_ID, PUSH_OVERFLOW } from '../../lib/protocol/messages'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { RawPeer } from '../helpers/raw-peer'
import { Teardown } from '../helpers/teardown'

// What the README promises of watch beyond the behaviour suite: a watcher that stops reading
// cannot grow the host's memory, and a watch follows its worker to a new host.

const teardown = new Teardown()
afterEach(() => teardown.run())

async function worker (port: number): Promise<FastifyInstance> {
  const app = Fastify()
  teardown.add(() => app.close())
  await app.register(sharedState, { port, key: TEST_KEY })
  return app
}

test('a watcher that stops reading is cut off with an overflow event, not buffered without bound', async () => {
  const port = await freePort()
  const host = await worker(port)
  const peer = await RawPeer.connect({ port }, teardown)
  await peer.handshake(TEST_KEY)
  const [, status, watchId] = await peer.request(opCode('watch'), 'big:')
  expect(status).toBe(0)

  peer.socket.pause()
  // 48 MiB of change events, far past what the socket buffers and the 8 MiB backlog hold.
  const value = Buffer.alloc(1024 * 1024, 1)
  for (let i = 0; i < 48; i++) await host.shared.set(`big:${i}`, value)
  peer.socket.resume()

  const isOverflow = (message: unknown): boolean =>
    Array.isArray(message) && message[0] === PUSH_ID && message[1] === PUSH_OVERFLOW && message[2] === watchId
  await waitFor(() => peer.messages.some(isOverflow), 20000, 'the overflow event')
  const changes = peer.messages.filter((message) => Array.isArray(message) && message[0] === PUSH_ID && message[1] === PUSH_CHANGE)
  expect(changes.length).toBeGreaterThan(0)
  expect(changes.length).toBeLessThan(48)
  // The watch ended: later changes are not sent to it.
  const before = peer.messages.length
  await host.shared.set('big:after', 1)
  const [, pinged] = await peer.request(opCode('ping'))
  expect(pinged).toBe(0)
  expect(peer.messages.slice(before).filter((message) => Array.isArray(message) && message[1] === PUSH_CHANGE)).toEqual([])
})

test('a watch follows its worker to the next host after a graceful handover', async () => {
  const port = await freePort()
  const first = await worker(port)
  const watcher = await worker(port)
  const writer = await worker(port)
  expect([first.shared.role, watcher.shared.role, writer.shared.role]).toEqual(['host', 'client', 'client'])
  const events: unknown[] = []
  await watcher.shared.watch('w:', (event) => events.push(event))

  await first.close()
  await waitFor(() => watcher.shared.role === 'host' || writer.shared.role === 'host', 10000, 'a new host')
  // The watch is set up again on the new host (the listener hears it may have missed changes);
  // a write after that reaches the listener.
  await waitFor(async () => {
    await writer.shared.set('w:k', 'after')
    return events.some((event) => (event as { type: string }).type === 'set')
  }, 10000, 'an event from the new host')
  expect(events[events.length - 1]).toEqual({ type: 'set', key: 'w:k', value: 'after' })
})

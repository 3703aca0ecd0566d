import { startFaultsWorker } from '../helpers/faults-worker'
import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { RawPeer } from '../helpers/raw-peer'
import { Teardown } from '../helpers/teardown'
import { opCode } from '../../lib/protocol/messages'

// A worker that reconnects under its id before the host noticed its old connection die: the new
// connection replaces the old, and what the old one was waiting for goes with it. A lock wait
// left behind would be granted to a connection nobody reads, and the lock held by nobody.

const teardown = new Teardown()
afterEach(() => teardown.run())

test('the old connection\'s lock wait and watch go when the worker reconnects under the same id', async () => {
  const port = await freePort()
  const host = await startFaultsWorker(teardown, { port, key: TEST_KEY })
  const held = await host.call<number>('acquire', 'twin-lock')

  const old = await RawPeer.connect({ port }, teardown)
  await old.handshake(TEST_KEY, 'twin')
  const [, watched] = await old.request(opCode('watchAs'), 'twin:', 1)
  expect(watched).toBe(0)
  // A wait of a minute, queued behind the host worker's hold.
  old.send([2, opCode('acquireLockUntil'), 'twin-lock', 60000, 0, Date.now() + 60000])
  await old.request(opCode('ping'))

  const fresh = await RawPeer.connect({ port }, teardown)
  await fresh.handshake(TEST_KEY, 'twin')
  await old.waitClosed()

  // The release finds nobody waiting: the old connection's wait went with it.
  await host.call('release', held, 'twin-lock')
  expect(await host.call('isLocked', 'twin-lock')).toBe(false)
  // The worker gets the lock on its new connection as anyone would.
  const [, status, token] = await fresh.request(opCode('acquireLockUntil'), 'twin-lock', 1000, 0, Date.now() + 1000)
  expect(status).toBe(0)
  expect(token).toBeGreaterThan(held)
  // The old connection's watch did not move to the new one: it is sent no event it did not ask for.
  await host.call('set', 'twin:1', 1)
  const [, pinged] = await fresh.request(opCode('ping'))
  expect(pinged).toBe(0)
  expect(fresh.messages.some((message) => Array.isArray(message) && message[0] === 0)).toBe(false)
})

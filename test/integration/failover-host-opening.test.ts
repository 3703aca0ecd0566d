import { type AddressInfo, Server } from 'node:net'
import Fastify from 'fastify'
import sharedState from '../../lib'
import { SharedMap } from '../../lib/api/shared-map'
import { HostLink } from '../../lib/client/host-link'
import { ProxyStore } from '../../lib/client/proxy-store'
import type { HostEngine } from '../../lib/host/host-engine'
import { linkSettings } from '../../lib/socket-mode'
import { parseOptions } from '../../lib/options'
import { ValueCodec } from '../../lib/protocol/codec'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// A worker that wins an election binds the socket first and then opens its state: with persist
// that means reading and repairing the log, which takes a while for a large one (and happens on
// every failover). A worker that reaches the socket meanwhile, at startup or after the old host
// died, must be served once the host is ready, not left waiting for a greeting that never comes
// and then told that a stranger holds the port.
//
// The host is built from the plugin's own pieces (as in lib/plugin.ts) so that the test holds the
// opening of its state until the other worker's connection has arrived.

const teardown = new Teardown()
afterEach(() => teardown.run())

/** The listening server on `port` in this process, once there is one. */
function listeningOn (port: number): Server | undefined {
  const handles = (process as unknown as { _getActiveHandles: () => unknown[] })._getActiveHandles()
  return handles.find((handle): handle is Server =>
    handle instanceof Server && (handle.address() as AddressInfo | null)?.port === port)
}

/** The connections the listening server on `port` in this process has accepted so far. */
function acceptedOn (port: number): Promise<number> {
  const server = listeningOn(port)
  if (server === undefined) return Promise.resolve(0)
  return new Promise((resolve) => server.getConnections((error, count) => resolve(error === null ? count : 0)))
}

test('a worker that connects while the host is still opening its state registers as its client', async () => {
  const port = await freePort()
  const options = parseOptions({ port, key: TEST_KEY, connectTimeout: 2000 })
  const codec = new ValueCodec()
  let open!: () => void
  const opened = new Promise<void>((resolve) => { open = resolve })
  const settings = linkSettings(options, codec, { info: () => {}, warn: () => {}, error: () => {} })
  const link = new HostLink({
    ...settings,
    openEngine: async (handedOver): Promise<HostEngine> => {
      // Loading a large log: the socket is bound, the state not ready yet.
      await opened
      return settings.openEngine(handedOver)
    }
  })
  teardown.add(() => link.close())
  const hosting = link.start()
  teardown.add(() => { open() })
  // This worker wins the election before the other starts: it alone binds the socket.
  await waitFor(() => listeningOn(port) !== undefined, 5000, 'the host to bind the socket')

  const client = Fastify()
  teardown.add(async () => {
    await client.close()
    await waitFor(() => link.workers().length === 0, 5000, 'the host to see the client leave')
  })
  const registered = (async () => { await client.register(sharedState, { port, key: TEST_KEY, connectTimeout: 2000 }).ready() })()
  registered.catch(() => {})
  // The client's connection has reached the host's socket; only now does the host finish opening.
  await waitFor(async () => (await acceptedOn(port)) > 0, 5000, 'the client to connect')
  open()
  await hosting
  expect(link.role).toBe('host')

  await registered
  expect(client.shared.role).toBe('client')
  const host = new SharedMap(new ProxyStore(link, options.timeout), codec, options.timeout)
  await host.set('ready', true)
  expect(await client.shared.get('ready')).toBe(true)
})

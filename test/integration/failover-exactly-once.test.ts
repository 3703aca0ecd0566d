import { SharedMap } from '../../lib/api/shared-map'
import { HostLink } from '../../lib/client/host-link'
import { ProxyStore } from '../../lib/client/proxy-store'
import { newClientId } from '../../lib/election'
import type { HostEngine } from '../../lib/host/host-engine'
import type { Reply } from '../../lib/host/applied-replies'
import { linkSettings } from '../../lib/socket-mode'
import { parseOptions } from '../../lib/options'
import { ValueCodec } from '../../lib/protocol/codec'
import { opCode } from '../../lib/protocol/messages'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// Exactly-once, deterministically: the host applies a client's mutation, and before its reply
// leaves, the client's connection is cut (the transport's test hook). The client elects again,
// reconnects and sends the unanswered call with the same id; the host must answer it from its
// memory of applied mutations instead of applying it a second time.
//
// `app.shared` keeps its store private, so the two workers are built here from the same pieces
// the plugin assembles (lib/plugin.ts): a HostLink, a ProxyStore and a SharedMap each. The host's
// engine is wrapped to see every request it executes and to cut the connection at that moment.

const teardown = new Teardown()
afterEach(() => teardown.run())

interface Execution {
  owner: string
  id: number
  op: number
  reply: Reply
}

interface Worker {
  link: HostLink
  shared: SharedMap
  clientId: string
}

const quiet = { info: () => {}, warn: () => {}, error: () => {} }

/** Builds a worker as the plugin does; the caller registers its close. */
async function openWorker (port: number, onEngine: (engine: HostEngine) => void = () => {}): Promise<Worker> {
  const options = parseOptions({ port, key: TEST_KEY })
  const codec = new ValueCodec()
  const clientId = newClientId()
  const settings = linkSettings(options, codec, quiet)
  const link = new HostLink({
    ...settings,
    clientId,
    openEngine: async (handedOver) => {
      const engine = await settings.openEngine(handedOver)
      onEngine(engine)
      return engine
    }
  })
  await link.start()
  return { link, shared: new SharedMap(new ProxyStore(link, options.timeout), codec, options.timeout), clientId }
}

/**
 * A host and a client; `cutAfter(op, n)` arms the hook: right after the host has applied the
 * client's n-th request of that op, and before the reply is sent, the client's link is cut.
 */
async function hostAndClient (): Promise<{ host: Worker, client: Worker, executions: Execution[], cutAfter: (op: string, n?: number) => void, engine: () => HostEngine }> {
  const port = await freePort()
  const executions: Execution[] = []
  let hostEngine: HostEngine | undefined
  let armed: { op: number, left: number } | undefined
  // Filled in once the client exists; the host's hook only acts on the client's requests.
  const clients: Worker[] = []
  const host = await openWorker(port, (engine) => {
    hostEngine = engine
    const execute = engine.execute.bind(engine)
    // Runs once the host has applied the request and before its reply is sent.
    const applied = (owner: string, id: number, op: number, reply: Reply): Reply => {
      const client = clients[0]
      if (client === undefined || owner !== client.clientId) return reply
      executions.push({ owner, id, op, reply })
      if (armed !== undefined && armed.op === op && --armed.left === 0) {
        armed = undefined
        const connection = client.link.connection
        if (connection === undefined) throw new Error('the client has no connection to cut')
        connection.cut()
      }
      return reply
    }
    // The engine answers most ops synchronously, a few through a promise; the hook keeps that.
    engine.execute = (store, id, op, args) => {
      const reply = execute(store, id, op, args)
      if (reply instanceof Promise) return reply.then((settled) => applied(store.owner, id, op, settled))
      return applied(store.owner, id, op, reply)
    }
  })
  teardown.add(() => host.link.close())
  const client = await openWorker(port)
  clients.push(client)
  // The client leaves first, and the host closes once it saw it go: a host that closes while a
  // worker is still connected offers that worker its state first.
  teardown.add(async () => {
    await client.link.close()
    await waitFor(() => host.link.workers().length === 0, 5000, 'the host to see the client leave')
  })
  expect([host.link.role, client.link.role]).toEqual(['host', 'client'])
  const engine = (): HostEngine => {
    if (hostEngine === undefined) throw new Error('the host has no engine')
    return hostEngine
  }
  return { host, client, executions, cutAfter: (op, n = 1) => { armed = { op: opCode(op), left: n } }, engine }
}

/** The executions of one request id: the first application, then any replays. */
function byId (executions: Execution[], op: string): Map<number, Reply[]> {
  const replies = new Map<number, Reply[]>()
  for (const execution of executions) {
    if (execution.op !== opCode(op)) continue
    replies.set(execution.id, [...(replies.get(execution.id) ?? []), execution.reply])
  }
  return replies
}

test('incr: the reply is lost after the host applied it; the retry is answered from memory, the value moved by exactly 1', async () => {
  const { host, client, executions, cutAfter } = await hostAndClient()
  await host.shared.set('n', 41)
  const connectionBefore = client.link.connection

  cutAfter('incr')
  expect(await client.shared.incr('n')).toBe(42)

  // The client reconnected on a new connection and is still a client of the same host.
  expect(client.link.connection).toBeDefined()
  expect(client.link.connection).not.toBe(connectionBefore)
  expect(client.link.role).toBe('client')
  expect(host.link.role).toBe('host')
  // The host executed the request twice (the original and the retry, same id) and both times
  // answered 42: the retry was a replay, not a second increment.
  const incrs = byId(executions, 'incr')
  expect([...incrs.values()]).toEqual([[[0, 42], [0, 42]]])
  expect(await host.shared.get('n')).toBe(42)
  expect(await client.shared.get('n')).toBe(42)
  // Later mutations are applied as usual.
  expect(await client.shared.incr('n')).toBe(43)
})

test('push: the reply is lost after the host applied it; the array grew by exactly one item', async () => {
  const { host, client, executions, cutAfter } = await hostAndClient()
  await host.shared.set('list', ['a'])

  cutAfter('push')
  expect(await client.shared.push(['list'], 'b')).toBe(2)

  expect([...byId(executions, 'push').values()]).toEqual([[[0, 2], [0, 2]]])
  expect(await host.shared.get('list')).toEqual(['a', 'b'])
  expect(await client.shared.get('list')).toEqual(['a', 'b'])
})

test('many calls in flight when the link is cut: each is applied once and keeps its first answer', async () => {
  const { host, client, executions, cutAfter } = await hostAndClient()
  const COUNT = 20

  cutAfter('incr', 10)
  const answers = await Promise.all(Array.from({ length: COUNT }, () => client.shared.incr('n')))

  expect([...answers].sort((a, b) => a - b)).toEqual(Array.from({ length: COUNT }, (_, i) => i + 1))
  expect(await host.shared.get('n')).toBe(COUNT)
  // Every id was first answered with what the client finally received, however often it ran.
  const incrs = byId(executions, 'incr')
  expect(incrs.size).toBe(COUNT)
  const ids = [...incrs.keys()].sort((a, b) => a - b)
  for (const [index, id] of ids.entries()) {
    const replies = incrs.get(id) as Reply[]
    expect(new Set(replies.map((reply) => JSON.stringify(reply))).size).toBe(1)
    expect(replies[0]).toEqual([0, answers[index]])
  }
  // At least the request whose reply was cut off was sent again.
  expect([...incrs.values()].some((replies) => replies.length > 1)).toBe(true)
})

test('a busy worker settles its old ids: the host snapshots only the replies a retry may still ask for, and a retry is still answered from memory', async () => {
  const { host, client, executions, cutAfter, engine } = await hostAndClient()
  await host.shared.set('n', 0)
  const CALLS = 3000
  const BATCH = 100
  for (let from = 0; from < CALLS; from += BATCH) {
    await Promise.all(Array.from({ length: BATCH }, async () => await client.shared.incr('n')))
  }
  const remembered = engine().applied.slots().find((slot) => slot.clientId === client.clientId)
  const ids = [...(remembered?.ids ?? [])].filter((id) => id !== 0).sort((a, b) => a - b)
  // The worker said so at its 2048th call, when its oldest call waiting was at most a batch older:
  // the snapshot leaves out the replies below, and keeps every one after (what a retry may want).
  expect(ids[0]).toBeGreaterThan(2048 - BATCH - 1)
  expect(ids.at(-1)).toBe(CALLS)
  expect(ids).toEqual(Array.from({ length: CALLS - (ids[0] as number) + 1 }, (_, i) => (ids[0] as number) + i))
  // A reply lost after the host applied the call: the retry finds it in memory.
  cutAfter('incr')
  expect(await client.shared.incr('n')).toBe(CALLS + 1)
  expect([...byId(executions, 'incr').values()].filter((replies) => replies.length > 1)).toEqual([[[0, CALLS + 1], [0, CALLS + 1]]])
  expect(await host.shared.get('n')).toBe(CALLS + 1)
})

import { HostEngine } from '../../lib/host/host-engine'
import { ValueCodec } from '../../lib/protocol/codec'

// The whole-map `keys` and `entries` ops (a worker that walks pages itself asks for them a page at
// a time) go a page a turn on the host: between two pages another task of the event loop runs
// (here, a chain of setImmediate callbacks counts the turns).

const codec = new ValueCodec()
const KEYS = 9000

function filledEngine (): HostEngine {
  const engine = new HostEngine(codec)
  for (let i = 0; i < KEYS; i++) engine.state.put(`key:${String(i).padStart(5, '0')}`, codec.encode(i), 0)
  return engine
}

/** Resolves `work` while counting the turns of the event loop that go by meanwhile. */
async function turnsDuring<T> (work: () => Promise<T>): Promise<{ result: T, turns: number }> {
  let turns = 0
  let done = false
  const count = (): void => { if (!done) { turns++; setImmediate(count) } }
  setImmediate(count)
  const result = await work()
  done = true
  return { result, turns }
}

test('the keys and entries ops walk the map a page a turn, and return every key in order', async () => {
  const store = filledEngine().storeFor('worker')
  const expected = Array.from({ length: KEYS }, (_, i) => `key:${String(i).padStart(5, '0')}`)
  const keys = await turnsDuring(async () => await store.keys(''))
  expect(keys.result).toEqual(expected)
  expect(keys.turns).toBeGreaterThan(1)
  const entries = await turnsDuring(async () => await store.entries('key:01'))
  expect(entries.result.map(([key, raw]) => [key, codec.decode(raw)])).toEqual(expected.slice(1000, 2000).map((key) => [key, Number(key.slice(4))]))
  expect(entries.turns).toBeGreaterThan(0)
})

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { ValueCodec } from '../../lib/protocol/codec'
import { MemoryState } from '../../lib/store/memory/state'

// The host's map keeps its keys and small values off the V8 heap (key-arena.ts, typed-array
// columns and indexes), so holding many keys adds next to nothing for the garbage collector to
// walk. A memory figure, measured after full collections, not a timing.

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function settledHeap (): number {
  for (let i = 0; i < 3; i++) gc()
  return process.memoryUsage().heapUsed
}

const KEYS = 500_000

test('500 k keys with small values, ttls and a few nested edits add under 4 bytes of V8 heap per key', () => {
  const codec = new ValueCodec()
  const state = new MemoryState(codec)
  const values = [codec.encode('a short string'), codec.encode({ user: 1, roles: ['x'] }), codec.encode(12345)]
  const before = settledHeap()
  for (let i = 0; i < KEYS; i++) state.set(`key:${i}`, values[i % 3] as Uint8Array, i % 4 === 0 ? 3_600_000 : 0)
  for (let i = 1; i < KEYS; i += 51) state.setIn([`key:${i}`, 'seen'], codec.encode(true))
  for (let i = 2; i < KEYS; i += 3) state.incr(`key:${i}`, 1)
  const perKey = (settledHeap() - before) / KEYS
  expect(state.size).toBe(KEYS)
  expect(codec.decode(state.getIn(['key:1', 'seen']) as Uint8Array)).toBe(true)
  expect(perKey).toBeLessThan(4)
  state.close()
})

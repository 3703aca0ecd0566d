import { ValueCodec } from '../../lib/protocol/codec'
import { EntryTable } from '../../lib/store/memory/entry-table'
import { KeyArena, numberBytes, type ArenaOwner } from '../../lib/store/memory/key-arena'
import { MemoryState, type StateChange } from '../../lib/store/memory/state'
import type { ChangeEvent } from '../../lib/store/store'

// A number written over a number of the same width goes over the record's own bytes; every other
// write takes the general path. Both must look the same from outside.

const codec = new ValueCodec()
const T0 = 1_700_000_000_000
const NUMBER = 1
const OTHER_KIND = 2

class Owner implements ArenaOwner {
  readonly handles = new Map<number, number>()
  handleOf (slot: number): number { return this.handles.get(slot) ?? 0 }
  moved (slot: number, _from: number, to: number): void { this.handles.set(slot, to) }
}

/** A record of `key` holding `value` as the table stores a number. */
function numberRecord (arena: KeyArena, slot: number, key: string, value: number): number {
  const handle = arena.create(slot, key, numberBytes(value))
  arena.setKind(handle, NUMBER)
  expect(arena.writeNumber(handle, NUMBER, value, 1)).toBe(true)
  return handle
}

const KEYS = ['', 'key:1', 'ключ', 'y'.repeat(40_000)]

describe('KeyArena numbers', () => {
  test('numberBytes: 4 for an int32, 8 for any other number, -0 included', () => {
    expect([0, 1, -1, 2 ** 31 - 1, -(2 ** 31)].map(numberBytes)).toEqual([4, 4, 4, 4, 4])
    expect([-0, 0.5, 2 ** 31, -(2 ** 31) - 1, NaN, Infinity, 2 ** 53].map(numberBytes)).toEqual([8, 8, 8, 8, 8, 8, 8])
  })

  test('writes a number of the same width over the old one, with the version, leaving slot, key and kind', () => {
    const arena = new KeyArena(new Owner())
    KEYS.forEach((key, slot) => {
      for (const [first, next] of [[7, -123456], [0.5, -0], [NaN, 2 ** 40], [2 ** 31 - 1, -(2 ** 31)]] as const) {
        const handle = numberRecord(arena, slot, key, first)
        const bytes = arena.bytes
        expect(arena.writeNumber(handle, NUMBER, next, 99)).toBe(true)
        expect(Object.is(arena.numberOf(handle, NUMBER), next)).toBe(true)
        expect([arena.version(handle), arena.slotOf(handle), arena.key(handle), arena.kind(handle), arena.bytes]).toEqual([99, slot, key, NUMBER, bytes])
      }
    })
  })

  test('refuses, writing nothing, a number of another width or a record of another kind', () => {
    const arena = new KeyArena(new Owner())
    const int = numberRecord(arena, 1, 'int', 5)
    const float = numberRecord(arena, 2, 'float', 5.5)
    expect(arena.writeNumber(int, NUMBER, 5.25, 9)).toBe(false)
    expect(arena.writeNumber(int, NUMBER, -0, 9)).toBe(false)
    expect(arena.writeNumber(float, NUMBER, 6, 9)).toBe(false)
    expect(arena.writeNumber(int, OTHER_KIND, 6, 9)).toBe(false)
    expect([arena.numberOf(int, NUMBER), arena.version(int), arena.numberOf(float, NUMBER), arena.version(float)]).toEqual([5, 1, 5.5, 1])
    expect(arena.numberOf(int, OTHER_KIND)).toBeUndefined()
  })
})

describe('EntryTable numbers', () => {
  test('a counter updated in place keeps its record: the arena does not grow', () => {
    const table = new EntryTable(codec)
    const slot = table.add('counter', 0, 1, 0)
    const bytes = table.arenaBytes
    for (let n = 1; n <= 100_000; n++) table.write(slot, n, n + 1, 0)
    expect([table.number(slot), table.version(slot), table.arenaBytes]).toEqual([100_000, 100_001, bytes])
  })

  test('a width change moves the record; the key finds it, with its value, version and deadline', () => {
    const table = new EntryTable(codec)
    const slot = table.add('counter', 1, 1, T0)
    for (const [value, version] of [[1.5, 2], [3, 3], [-0, 4], [2 ** 33, 5], [7, 6]] as const) {
      table.write(slot, value, version, T0 + version)
      expect(table.slotOf('counter')).toBe(slot)
      expect([Object.is(table.number(slot), value), table.version(slot), table.deadline(slot), table.key(slot)]).toEqual([true, version, T0 + version, 'counter'])
    }
  })

  test('a number over bytes, and bytes over a number, change kind as before', () => {
    const table = new EntryTable(codec)
    const slot = table.add('k', codec.encode('four'), 1, 0)
    table.write(slot, 1234, 2, 0)
    expect([table.decoded(slot), table.version(slot)]).toEqual([1234, 2])
    table.write(slot, codec.encode('abcd'), 3, 0)
    expect([table.decoded(slot), table.version(slot)]).toEqual(['abcd', 3])
    table.write(slot, 5678, 4, 0)
    expect([table.decoded(slot), codec.decode(table.raw(slot))]).toEqual([5678, 5678])
  })
})

describe('MemoryState writes of numbers in place', () => {
  let state: MemoryState
  beforeEach(() => {
    jest.useFakeTimers({ now: T0 })
    state = new MemoryState(codec)
  })
  afterEach(() => {
    state.close()
    jest.useRealTimers()
  })

  test('every incr and set moves the version, over the same width or not', () => {
    state.incr('n', 1)
    const versions = [state.getVersioned('n')[1]]
    for (const by of [1, 1, 0.5, 0.5, 2 ** 40, 1]) {
      state.incr('n', by)
      versions.push(state.getVersioned('n')[1])
    }
    state.set('n', codec.encode(9), 0)
    versions.push(state.getVersioned('n')[1])
    expect(new Set(versions).size).toBe(versions.length)
    expect(versions).toEqual([...versions].sort((a, b) => a - b))
    expect(codec.decode(state.get('n') as Uint8Array)).toBe(9)
  })

  test('a version read before an in-place incr no longer matches', () => {
    state.incr('n', 1)
    const [, version] = state.getVersioned('n')
    state.incr('n', 1)
    expect(state.setIfVersion('n', codec.encode(100), version)).toBe(false)
    expect(codec.decode(state.get('n') as Uint8Array)).toBe(2)
  })

  test('incr in place keeps the ttl; set in place without one clears it, and the key outlives the old deadline', () => {
    state.incr('kept', 1, 1000)
    state.incr('cleared', 1, 1000)
    for (let i = 0; i < 5; i++) state.incr('kept', 1)
    state.set('cleared', codec.encode(5), 0)
    expect([state.ttl('kept'), state.ttl('cleared')]).toEqual([1000, -1])
    jest.advanceTimersByTime(1500)
    expect([state.get('kept'), codec.decode(state.get('cleared') as Uint8Array)]).toEqual([undefined, 5])
  })

  test('a set in place with a new ttl expires at the new deadline', () => {
    state.set('n', codec.encode(1), 5000)
    state.set('n', codec.encode(2), 1000)
    jest.advanceTimersByTime(1500)
    expect(state.has('n')).toBe(false)
  })

  test('watchers and the change log see every write, in place or moved, with its bytes', () => {
    const events: Array<[string, string, unknown]> = []
    state.watch('n', (event: ChangeEvent) => { events.push([event.type, event.key, event.value === undefined ? undefined : codec.decode(event.value)]) })
    const changes: unknown[] = []
    state.onChange = (change: StateChange) => { changes.push(change[0] === 'put' ? ['put', change[1], codec.decode(change[2]), change[3]] : change) }
    state.incr('n', 1)
    state.incr('n', 1)
    state.incr('n', 0.5)
    state.incr('n', 0.25)
    state.set('n', codec.encode(-7), 0)
    state.set('n', codec.encode(-8), 0)
    const values = [1, 2, 2.5, 2.75, -7, -8]
    expect(events).toEqual(values.map((value) => ['set', 'n', value]))
    expect(changes).toEqual(values.map((value) => ['put', 'n', value, 0]))
  })
})

import { ValueCodec } from '../../lib/protocol/codec'
import { EntryTable } from '../../lib/store/memory/entry-table'
import { HashIndex } from '../../lib/store/memory/hash-index'
import { KeyArena } from '../../lib/store/memory/key-arena'
import { hashKey } from '../../lib/store/memory/key-hash'
import { KeyIndex } from '../../lib/store/memory/key-index'
import { LiveValue } from '../../lib/store/memory/stored-value'
import { SlotStack } from '../../lib/store/memory/slot-stack'

const codec = new ValueCodec()

// A fixed generator, so a failure replays.
function random (seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  }
}

const ODD_KEYS = ['', 'é', 'ключ', '\u{1F600}', 'a\u0100b', '\u00ff', 'x'.repeat(200)]

describe('EntryTable', () => {
  test('finds every key through growth, removal and slot reuse, as a Map would', () => {
    const table = new EntryTable(codec)
    const model = new Map<string, number>()
    const next = random(7)
    const mismatches: string[] = []
    for (let step = 0; step < 300_000; step++) {
      const id = Math.floor(next() * 60_000)
      const key = id < 7 ? (ODD_KEYS[id] as string) : `k:${id}`
      const slot = table.slotOf(key)
      if ((slot >= 0) !== model.has(key)) mismatches.push(`step ${step}: ${key}`)
      if (next() < 0.65) {
        if (slot < 0) table.add(key, step, step, 0)
        else table.write(slot, step, step, 0)
        model.set(key, step)
      } else if (slot >= 0) {
        table.remove(slot)
        model.delete(key)
      }
    }
    expect(mismatches).toEqual([])
    expect(table.size).toBe(model.size)
    for (const [key, value] of model) {
      const slot = table.slotOf(key)
      if (table.key(slot) !== key || table.number(slot) !== value || table.version(slot) !== value) mismatches.push(key)
    }
    expect(mismatches).toEqual([])
    expect(table.slotOf('absent')).toBe(-1)
  })

  test('values changing size move their records, through compaction, and every key still finds its value', () => {
    const table = new EntryTable(codec)
    const model = new Map<string, Uint8Array | number>()
    const next = random(11)
    const mismatches: string[] = []
    for (let step = 0; step < 200_000; step++) {
      const key = `v:${Math.floor(next() * 20_000)}`
      const roll = next()
      const value = roll < 0.2 ? step : roll < 0.3 ? step + 0.5 : new Uint8Array(Math.floor(next() * 300)).fill(step & 0xff)
      const slot = table.slotOf(key)
      if (next() < 0.1 && slot >= 0) {
        table.remove(slot)
        model.delete(key)
      } else if (slot < 0) {
        table.add(key, value, step, 0)
        model.set(key, value)
      } else {
        table.write(slot, value, step, 0)
        model.set(key, value)
      }
    }
    for (const [key, value] of model) {
      const slot = table.slotOf(key)
      const held = table.value(slot)
      const same = typeof value === 'number' ? held === value : held instanceof Uint8Array && Buffer.compare(held, value) === 0
      if (!same || table.key(slot) !== key) mismatches.push(key)
    }
    expect(mismatches).toEqual([])
    expect(table.size).toBe(model.size)
    // 20 k keys of up to 300 bytes: the dead records of 200 k writes were compacted away.
    expect(table.arenaBytes).toBeLessThan(20_000 * 330 * 2.5)
  })

  test('a freed slot is reused by the next key, which does not inherit its deadline', () => {
    const table = new EntryTable(codec)
    const first = table.add('a', 1, 1, Date.now() + 1000)
    table.add('b', 2, 2, 0)
    table.remove(first)
    const reused = table.add('c', codec.encode('v'), 3, 0)
    expect(reused).toBe(first)
    expect(table.deadline(reused)).toBe(0)
    expect(table.key(reused)).toBe('c')
    expect(table.slotOf('a')).toBe(-1)
  })

  test('values of every kind read back: numbers, small and large bytes, decoded values', () => {
    const table = new EntryTable(codec)
    const small = codec.encode('small')
    const large = codec.encode('L'.repeat(10_000))
    const slots = [table.add('n', 2.5, 1, 0), table.add('s', small, 1, 0), table.add('l', large, 1, 0), table.add('o', new LiveValue({ a: 1 }, undefined), 1, 0)]
    expect(table.raw(slots[0] as number)).toEqual(codec.encode(2.5))
    expect(table.raw(slots[1] as number)).toEqual(small)
    expect(table.raw(slots[2] as number)).toEqual(large)
    expect(codec.decode(table.raw(slots[3] as number))).toEqual({ a: 1 })
    // A value changing size moves its record; the key stays.
    table.setValue(slots[1] as number, large)
    table.setValue(slots[2] as number, small)
    expect(table.raw(slots[1] as number)).toEqual(large)
    expect(table.raw(slots[2] as number)).toEqual(small)
    expect(table.key(slots[1] as number)).toBe('s')
    // Numbers: an int32 in four bytes, any other in eight, switching either way in place or not.
    for (const number of [7, -(2 ** 31), 2 ** 31, -0, 0.1, -1, NaN, Infinity]) {
      table.setValue(slots[0] as number, number)
      expect(Object.is(table.number(slots[0] as number), number)).toBe(true)
    }
  })

  test('decoded values kept for edits are bounded: the least recent go back to bytes', () => {
    const table = new EntryTable(codec)
    const slots: number[] = []
    for (let i = 0; i < 5000; i++) slots.push(table.add(`o:${i}`, codec.encode({ i: i + 1 }), 1, 0))
    // As an edit does: decode, then store the edited value (its bytes made again when needed).
    for (const slot of slots) {
      const live = table.live(slot)
      table.setValue(slot, new LiveValue({ i: -(live.value as { i: number }).i }, undefined))
    }
    for (const slot of slots) expect(codec.decode(table.raw(slot))).toEqual({ i: -(slot + 1) })
    expect(slots.filter((slot) => table.value(slot) instanceof LiveValue).length).toBeLessThanOrEqual(1024)
  })
})

describe('HashIndex', () => {
  test('many keys of one shard: probe runs survive removals in any order', () => {
    const handles = new Map<number, number>()
    const arena = new KeyArena({ handleOf: (slot) => handles.get(slot) ?? 0, moved: () => {} })
    const index = new HashIndex(arena)
    // Keys picked so their hashes share the top bits: one shard holds them all, grows many times
    // and has long probe runs.
    const keys: string[] = []
    for (let i = 0; keys.length < 600; i++) if (hashKey(`k${i}`) >>> 22 === 5) keys.push(`k${i}`)
    keys.forEach((key, slot) => {
      handles.set(slot, arena.create(slot, key, 0))
      index.insert(hashKey(key), handles.get(slot) as number)
    })
    const next = random(3)
    const live = new Set(keys.map((_, slot) => slot))
    for (let n = 0; n < 500; n++) {
      const slot = Math.floor(next() * keys.length)
      if (!live.has(slot)) continue
      index.remove(hashKey(keys[slot] as string), handles.get(slot) as number)
      live.delete(slot)
    }
    const wrong = keys.filter((key, slot) => index.find(key, hashKey(key)) !== (live.has(slot) ? handles.get(slot) : 0))
    expect(wrong).toEqual([])
  })
})

describe('KeyIndex over the table', () => {
  test('odd keys sort by code unit; keys restored in order fill chunks; a reader resumes after deletions', () => {
    const table = new EntryTable(codec)
    const index = new KeyIndex(table)
    const ordered = Array.from({ length: 5000 }, (_, i) => `k:${String(i).padStart(5, '0')}`)
    for (const key of ordered) index.addInOrder(key, table.add(key, 0, 1, 0))
    for (const key of ODD_KEYS) index.add(key, table.add(key, 0, 1, 0))
    const all = [...ordered, ...ODD_KEYS].sort()
    const read = (prefix: string, after?: string): string[] => {
      const keys: string[] = []
      index.forEach(prefix, after, (slot) => { keys.push(table.key(slot)); return true })
      return keys
    }
    expect(read('')).toEqual(all)
    expect(read('k:0499')).toEqual(['k:04990', 'k:04991', 'k:04992', 'k:04993', 'k:04994', 'k:04995', 'k:04996', 'k:04997', 'k:04998', 'k:04999'])
    // Walk a page, delete keys on both sides of the cursor, resume: each remaining key once.
    const page: string[] = []
    index.forEach('k:', undefined, (slot) => { page.push(table.key(slot)); return page.length < 2000 })
    for (const key of ['k:00010', 'k:03000', page.at(-1) as string]) {
      const slot = table.slotOf(key)
      index.delete(key, slot)
      table.remove(slot)
    }
    const rest = read('k:', page.at(-1))
    expect([...page, ...rest]).toEqual(ordered.filter((key) => key !== 'k:03000'))
  })
})

describe('SlotStack', () => {
  test('gives slots back last freed first, across segments, then -1', () => {
    const stack = new SlotStack()
    for (let slot = 0; slot < 200_000; slot++) stack.push(slot * 3)
    for (let slot = 199_999; slot >= 100_000; slot--) expect(stack.pop()).toBe(slot * 3)
    stack.push(7)
    expect(stack.pop()).toBe(7)
    for (let slot = 99_999; slot >= 0; slot--) if (stack.pop() !== slot * 3) throw new Error(`slot ${slot}`)
    expect(stack.size).toBe(0)
    expect(stack.pop()).toBe(-1)
  })
})

import { KeyIndex, type KeyedSlots } from '../../lib/store/memory/key-index'

/** Keys by slot, as the table keeps them: the index only ever sees slot numbers. */
class Slots implements KeyedSlots {
  readonly keys: string[] = []
  compareKey (slot: number, key: string): number {
    const held = this.keys[slot] as string
    return held < key ? -1 : held > key ? 1 : 0
  }

  keyStartsWith (slot: number, prefix: string): boolean { return (this.keys[slot] as string).startsWith(prefix) }
  key (slot: number): string { return this.keys[slot] as string }
}

/** An index over its own Slots, adding and deleting by key. */
class TestIndex {
  readonly slots = new Slots()
  readonly index = new KeyIndex(this.slots)
  readonly #slotOf = new Map<string, number>()

  add (key: string, slot = this.slots.keys.length): void {
    this.slots.keys[slot] = key
    this.#slotOf.set(key, slot)
    this.index.add(key, slot)
  }

  delete (key: string): void {
    this.index.delete(key, this.#slotOf.get(key) as number)
    this.#slotOf.delete(key)
  }

  forEach (prefix: string, after: string | undefined, visit: (key: string, slot: number) => boolean): boolean {
    return this.index.forEach(prefix, after, (slot) => visit(this.slots.key(slot), slot))
  }

  clear (): void { this.index.clear() }
}

/** Every key the index holds with `prefix`, after `after`, read with forEach. */
function read (index: TestIndex, prefix: string, after?: string): string[] {
  const keys: string[] = []
  index.forEach(prefix, after, (key) => { keys.push(key); return true })
  return keys
}

// A fixed generator, so a failure replays.
function random (seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  }
}

describe('KeyIndex', () => {
  test('keeps keys sorted by code unit, with the empty key and non-ASCII keys', () => {
    const index = new TestIndex()
    for (const key of ['b', '', 'a:2', 'a:10', 'é', 'a', '\u{1F600}']) index.add(key)
    expect(read(index, '')).toEqual(['', 'a', 'a:10', 'a:2', 'b', 'é', '\u{1F600}'])
    expect(read(index, 'a:')).toEqual(['a:10', 'a:2'])
    expect(read(index, 'a', 'a')).toEqual(['a:10', 'a:2'])
    expect(read(index, 'zz')).toEqual([])
  })

  test('through many splits and merges, agrees with a sorted array', () => {
    const index = new TestIndex()
    const model = new Set<string>()
    const next = random(42)
    for (let step = 0; step < 60_000; step++) {
      const key = `k:${Math.floor(next() * 20_000)}`
      // More adds than deletes at first, then more deletes: chunks split, then merge and vanish.
      const adding = next() < (step < 30_000 ? 0.8 : 0.2)
      if (adding && !model.has(key)) {
        // Its slot is its number: each key's slot must stay beside it through every split and merge.
        index.add(key, Number(key.slice(2)))
        model.add(key)
      } else if (!adding && model.has(key)) {
        index.delete(key)
        model.delete(key)
      }
    }
    const sorted = [...model].sort()
    expect(read(index, '')).toEqual(sorted)
    index.forEach('', undefined, (key, slot) => {
      expect(slot).toBe(Number(key.slice(2)))
      return true
    })
    expect(read(index, 'k:1')).toEqual(sorted.filter((key) => key.startsWith('k:1')))
    const middle = sorted[Math.floor(sorted.length / 2)] as string
    expect(read(index, '', middle)).toEqual(sorted.filter((key) => key > middle))
  })

  test('a reader stops where visit says, and resumes after the last key it saw', () => {
    const index = new TestIndex()
    for (let i = 0; i < 5000; i++) index.add(`user:${String(i).padStart(5, '0')}`, i)
    const seen: string[] = []
    const done = index.forEach('user:', undefined, (key) => {
      seen.push(key)
      return seen.length < 3000
    })
    expect(done).toBe(false)
    expect(index.forEach('user:', seen.at(-1), (key) => { seen.push(key); return true })).toBe(true)
    expect(seen).toEqual(read(index, 'user:'))
    expect(seen).toHaveLength(5000)
  })

  test('keys added in order, as a handover sends them, read back in order', () => {
    const index = new TestIndex()
    const keys = Array.from({ length: 5000 }, (_, i) => `k:${String(i).padStart(5, '0')}`)
    for (const key of keys) index.add(key)
    index.add('k:02500x')
    index.add('a')
    expect(read(index, '')).toEqual(['a', ...keys.slice(0, 2501), 'k:02500x', ...keys.slice(2501)])
  })

  test('keys appended after the last one fill chunks in order; other keys still find their place', () => {
    const index = new TestIndex()
    expect(index.index.last()).toBe(-1)
    const keys = Array.from({ length: 9000 }, (_, i) => `k:${String(i).padStart(5, '0')}`)
    keys.forEach((key, slot) => {
      index.slots.keys[slot] = key
      index.index.append(slot)
      expect(index.index.last()).toBe(slot)
    })
    index.add('k:04096x')
    index.add('a')
    expect(read(index, '')).toEqual(['a', ...keys.slice(0, 4097), 'k:04096x', ...keys.slice(4097)])
    expect(read(index, 'k:0899')).toEqual(keys.slice(8990))
    expect(index.index.last()).toBe(8999)
  })

  test('clear empties it', () => {
    const index = new TestIndex()
    for (let i = 0; i < 3000; i++) index.add(`x${i}`, i)
    index.clear()
    expect(read(index, '')).toEqual([])
    index.add('y')
    expect(read(index, '')).toEqual(['y'])
  })
})

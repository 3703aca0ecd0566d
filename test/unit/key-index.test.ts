import { KeyIndex } from '../../lib/store/memory/key-index'

/** Every key the index holds with `prefix`, after `after`, read with forEach. */
function read (index: KeyIndex, prefix: string, after?: string): string[] {
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
    const index = new KeyIndex()
    for (const key of ['b', '', 'a:2', 'a:10', 'é', 'a', '\u{1F600}']) index.add(key)
    expect(read(index, '')).toEqual(['', 'a', 'a:10', 'a:2', 'b', 'é', '\u{1F600}'])
    expect(read(index, 'a:')).toEqual(['a:10', 'a:2'])
    expect(read(index, 'a', 'a')).toEqual(['a:10', 'a:2'])
    expect(read(index, 'zz')).toEqual([])
  })

  test('through many splits and merges, agrees with a sorted array', () => {
    const index = new KeyIndex()
    const model = new Set<string>()
    const next = random(42)
    for (let step = 0; step < 60_000; step++) {
      const key = `k:${Math.floor(next() * 20_000)}`
      // More adds than deletes at first, then more deletes: chunks split, then merge and vanish.
      const adding = next() < (step < 30_000 ? 0.8 : 0.2)
      if (adding && !model.has(key)) {
        index.add(key)
        model.add(key)
      } else if (!adding && model.has(key)) {
        index.delete(key)
        model.delete(key)
      }
    }
    const sorted = [...model].sort()
    expect(read(index, '')).toEqual(sorted)
    expect(read(index, 'k:1')).toEqual(sorted.filter((key) => key.startsWith('k:1')))
    const middle = sorted[Math.floor(sorted.length / 2)] as string
    expect(read(index, '', middle)).toEqual(sorted.filter((key) => key > middle))
  })

  test('a reader stops where visit says, and resumes after the last key it saw', () => {
    const index = new KeyIndex()
    for (let i = 0; i < 5000; i++) index.add(`user:${String(i).padStart(5, '0')}`)
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
    const index = new KeyIndex()
    const keys = Array.from({ length: 5000 }, (_, i) => `k:${String(i).padStart(5, '0')}`)
    for (const key of keys) index.add(key)
    index.add('k:02500x')
    index.add('a')
    expect(read(index, '')).toEqual(['a', ...keys.slice(0, 2501), 'k:02500x', ...keys.slice(2501)])
  })

  test('clear empties it', () => {
    const index = new KeyIndex()
    for (let i = 0; i < 3000; i++) index.add(`x${i}`)
    index.clear()
    expect(read(index, '')).toEqual([])
    index.add('y')
    expect(read(index, '')).toEqual(['y'])
  })
})

import { HashIndex } from '../../lib/store/memory/hash-index'
import { KeyArena } from '../../lib/store/memory/key-arena'

const SHARD_SHIFT = 22
const LOW_RANGE = 1 << SHARD_SHIFT

type Key = [key: string, hash: number]

// A fixed generator, so a failure replays.
function random (seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  }
}

/**
 * `count` keys with made-up hashes in one shard (so one table holds them all), the bits below
 * the shard's drawn from [from, to) of their range. The index never hashes a key itself: it
 * keeps the hash it is given and compares keys only when hashes match.
 */
function keysOfShard (count: number, shard: number, next: () => number, tag: string, from = 0, to = 1): Key[] {
  return Array.from({ length: count }, (_, i) => {
    const low = Math.floor((from + (to - from) * next()) * LOW_RANGE)
    return [`${tag}${i}`, ((shard << SHARD_SHIFT) | low) >>> 0]
  })
}

/** An index over an arena holding `keys`, none inserted yet; `handles[i]` is the record of `keys[i]`. */
function setUp (keys: Key[]): { index: HashIndex, handles: number[] } {
  const handles: number[] = []
  const arena = new KeyArena({ handleOf: (slot) => handles[slot] ?? 0, moved: () => {} })
  keys.forEach(([key], slot) => { handles.push(arena.create(slot, key, 0)) })
  return { index: new HashIndex(arena), handles }
}

/** The keys `index` answers wrongly: a live one not found as its record, or a removed one found. */
function wrongAnswers (index: HashIndex, keys: Key[], handles: number[], live: Set<number>): string[] {
  return keys.filter(([key, hash], slot) => index.find(key, hash) !== (live.has(slot) ? handles[slot] : 0)).map(([key]) => key)
}

describe('HashIndex', () => {
  test('one table grows through many capacities and finds every key at each', () => {
    const keys = keysOfShard(3000, 9, random(1), 'k')
    const { index, handles } = setUp(keys)
    const live = new Set<number>()
    const wrong: string[] = []
    keys.forEach(([, hash], slot) => {
      index.insert(hash, handles[slot] as number)
      live.add(slot)
      // At each count up to 300 (capacities 8 to about 400), then at every 97th, up to 3000.
      if (slot < 300 || slot % 97 === 0) wrong.push(...wrongAnswers(index, keys, handles, live))
    })
    wrong.push(...wrongAnswers(index, keys, handles, live))
    expect(wrong).toEqual([])
  })

  test('removal keeps runs that wrap from the last bucket to the first findable', () => {
    // Most homes in the table's last sixteenth, some in its first: runs cross the end and meet
    // the entries whose home is at the start.
    const next = random(11)
    const keys = [...keysOfShard(400, 3, next, 'late', 15 / 16, 1), ...keysOfShard(60, 3, next, 'early', 0, 1 / 64)]
    const { index, handles } = setUp(keys)
    const order = keys.map((_, slot) => slot).sort(() => next() - 0.5)
    const live = new Set<number>()
    for (const slot of order) {
      index.insert((keys[slot] as Key)[1], handles[slot] as number)
      live.add(slot)
    }
    const wrong: string[] = []
    for (const slot of [...order].sort(() => next() - 0.5)) {
      index.remove((keys[slot] as Key)[1], handles[slot] as number)
      live.delete(slot)
      wrong.push(...wrongAnswers(index, keys, handles, live))
    }
    expect(wrong).toEqual([])
  })

  test('finds every key after many cycles of inserts and removals, as a Set would', () => {
    // Two tables, each between a few hundred and seven hundred keys: they grow, and their runs
    // are shifted back many times.
    const next = random(5)
    const keys = [...keysOfShard(700, 0, next, 'a'), ...keysOfShard(700, 1023, next, 'b')]
    const { index, handles } = setUp(keys)
    const live = new Set<number>()
    const wrong: string[] = []
    for (let step = 0; step < 200_000; step++) {
      const slot = Math.floor(next() * keys.length)
      const [key, hash] = keys[slot] as Key
      if (live.has(slot)) {
        if (next() < 0.5) {
          index.remove(hash, handles[slot] as number)
          live.delete(slot)
        }
      } else if (next() < 0.7) {
        index.insert(hash, handles[slot] as number)
        live.add(slot)
      }
      if (index.find(key, hash) !== (live.has(slot) ? handles[slot] : 0)) wrong.push(`step ${step}: ${key}`)
      if (step % 20_000 === 0) wrong.push(...wrongAnswers(index, keys, handles, live))
    }
    wrong.push(...wrongAnswers(index, keys, handles, live))
    expect(wrong).toEqual([])
  })

  test('inserts made later are found, removed and moved as if made at once, across the batch limit', () => {
    // Over 2^17 keys in eight tables: the waiting inserts settle once by themselves, the rest when
    // the index is next read.
    const next = random(7)
    const keys: Key[] = []
    for (let shard = 0; shard < 8; shard++) keys.push(...keysOfShard(17_000, shard * 127, next, `s${shard}:`))
    const { index, handles } = setUp(keys)
    const live = new Set<number>()
    keys.forEach(([, hash], slot) => {
      index.insertLater(hash, handles[slot] as number)
      live.add(slot)
    })
    expect(wrongAnswers(index, keys, handles, live)).toEqual([])

    // Waiting inserts meet a removal, a move and a lookup before they settle.
    const [, hash0] = keys[0] as Key
    index.remove(hash0, handles[0] as number)
    live.delete(0)
    const extra = keysOfShard(3, 5, next, 'late:')
    const late = setUp(extra).handles
    extra.forEach(([, hash], i) => index.insertLater(hash, late[i] as number))
    index.remove((extra[0] as Key)[1], late[0] as number)
    expect(index.candidate((extra[1] as Key)[1])).toBe(late[1])
    expect(index.candidate((extra[0] as Key)[1])).not.toBe(late[0])
    expect(wrongAnswers(index, keys, handles, live)).toEqual([])
  })

  test('room reserved ahead holds the keys, and the tables still grow past it', () => {
    const next = random(3)
    const keys = keysOfShard(2000, 77, next, 'r')
    const { index, handles } = setUp(keys)
    // Room for 1,024 keys in all: about one in this table, which then grows to hold 2,000.
    index.reserve(1024)
    const live = new Set<number>()
    keys.forEach(([, hash], slot) => {
      index.insertLater(hash, handles[slot] as number)
      live.add(slot)
    })
    expect(wrongAnswers(index, keys, handles, live)).toEqual([])
    index.reserve(10_000_000)
    expect(wrongAnswers(index, keys, handles, live)).toEqual([])
  })
})

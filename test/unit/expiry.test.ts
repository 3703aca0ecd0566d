import { ExpiryQueue } from '../../lib/store/memory/expiry'

/** A small seeded generator (mulberry32), so a failure replays the same deadlines. */
function random (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function drain (queue: ExpiryQueue): Array<[string, number]> {
  const popped: Array<[string, number]> = []
  for (let entry = queue.pop(); entry !== undefined; entry = queue.pop()) popped.push(entry)
  return popped
}

function byDeadline (a: [string, number], b: [string, number]): number {
  return a[1] - b[1]
}

describe('ExpiryQueue', () => {
  test('an empty queue: size 0, peek Infinity, pop undefined', () => {
    const queue = new ExpiryQueue()
    expect(queue.size).toBe(0)
    expect(queue.peek()).toBe(Infinity)
    expect(queue.pop()).toBeUndefined()
  })

  test('a single entry', () => {
    const queue = new ExpiryQueue()
    queue.push('k', 100)
    expect(queue.size).toBe(1)
    expect(queue.peek()).toBe(100)
    expect(queue.pop()).toEqual(['k', 100])
    expect(queue.size).toBe(0)
    expect(queue.peek()).toBe(Infinity)
  })

  test.each([1, 2, 3, 42, 2024])('random deadlines pop in non-decreasing order, each key with its own deadline (seed %i)', (seed) => {
    const next = random(seed)
    const queue = new ExpiryQueue()
    const pushed: Array<[string, number]> = []
    for (let i = 0; i < 2000; i++) {
      // A narrow range makes equal deadlines common.
      const deadline = 1_700_000_000_000 + Math.floor(next() * 500)
      pushed.push([`key-${i}`, deadline])
      queue.push(`key-${i}`, deadline)
    }
    expect(queue.size).toBe(2000)
    expect(queue.peek()).toBe(Math.min(...pushed.map(([, deadline]) => deadline)))

    const popped = drain(queue)
    expect(popped).toHaveLength(2000)
    const outOfOrder = popped.findIndex((entry, i) => i > 0 && entry[1] < (popped[i - 1] as [string, number])[1])
    expect(outOfOrder).toBe(-1)
    // Same entries, keys still paired with their deadlines.
    expect([...popped].sort((a, b) => a[0].localeCompare(b[0]))).toEqual([...pushed].sort((a, b) => a[0].localeCompare(b[0])))
    expect(popped.map(([, deadline]) => deadline)).toEqual(pushed.map(([, deadline]) => deadline).sort((a, b) => a - b))
    expect(queue.size).toBe(0)
  })

  test('interleaved pushes and pops always yield the earliest deadline left (against a sorted reference)', () => {
    const next = random(7)
    const queue = new ExpiryQueue()
    const reference: Array<[string, number]> = []
    const mismatches: string[] = []
    for (let step = 0; step < 5000; step++) {
      if (next() < 0.6 || reference.length === 0) {
        const entry: [string, number] = [`k${step}`, Math.floor(next() * 1_000_000)]
        queue.push(entry[0], entry[1])
        reference.push(entry)
        reference.sort(byDeadline)
      } else {
        const popped = queue.pop() as [string, number]
        const index = reference.findIndex(([key, deadline]) => key === popped[0] && deadline === popped[1])
        if (index < 0 || popped[1] !== (reference[0] as [string, number])[1]) mismatches.push(`step ${step}: popped ${popped.join('@')}`)
        if (index >= 0) reference.splice(index, 1)
      }
      const earliest = reference.length === 0 ? Infinity : (reference[0] as [string, number])[1]
      if (queue.size !== reference.length || queue.peek() !== earliest) mismatches.push(`step ${step}: size or peek`)
    }
    expect(mismatches).toEqual([])
    expect(drain(queue).map(([, deadline]) => deadline)).toEqual(reference.map(([, deadline]) => deadline))
  })

  test('the same key pushed twice is kept twice (stale entries are the sweep\'s business)', () => {
    const queue = new ExpiryQueue()
    queue.push('k', 300)
    queue.push('k', 100)
    queue.push('other', 200)
    expect(drain(queue)).toEqual([['k', 100], ['other', 200], ['k', 300]])
  })

  test('peek always equals the deadline of the next pop', () => {
    const next = random(99)
    const queue = new ExpiryQueue()
    for (let i = 0; i < 500; i++) queue.push(`k${i}`, Math.floor(next() * 1000))
    while (queue.size > 0) {
      const peeked = queue.peek()
      expect((queue.pop() as [string, number])[1]).toBe(peeked)
    }
  })

  test('clear empties the queue, which then works as new', () => {
    const queue = new ExpiryQueue()
    for (let i = 0; i < 10; i++) queue.push(`k${i}`, 10 - i)
    queue.clear()
    expect(queue.size).toBe(0)
    expect(queue.peek()).toBe(Infinity)
    expect(queue.pop()).toBeUndefined()
    queue.push('b', 2)
    queue.push('a', 1)
    expect(drain(queue)).toEqual([['a', 1], ['b', 2]])
  })
})

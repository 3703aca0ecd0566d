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

/** Pops every slot, with the deadline it had when it was popped. */
function drain (queue: ExpiryQueue): Array<[number, number]> {
  const popped: Array<[number, number]> = []
  while (queue.size > 0) {
    const deadline = queue.peek()
    popped.push([queue.pop(), deadline])
  }
  return popped
}

describe('ExpiryQueue (by slot)', () => {
  test('an empty queue: size 0, peek Infinity, pop -1', () => {
    const queue = new ExpiryQueue()
    expect(queue.size).toBe(0)
    expect(queue.peek()).toBe(Infinity)
    expect(queue.pop()).toBe(-1)
  })

  test('a slot set twice keeps one entry, at its latest deadline', () => {
    const queue = new ExpiryQueue()
    queue.set(4, 300)
    queue.set(4, 100)
    queue.set(9, 200)
    queue.set(4, 250)
    expect(queue.size).toBe(2)
    expect(drain(queue)).toEqual([[9, 200], [4, 250]])
  })

  test('a removed slot is gone, and can be queued again', () => {
    const queue = new ExpiryQueue()
    for (let slot = 0; slot < 10; slot++) queue.set(slot, 100 - slot)
    queue.remove(9)
    queue.remove(0)
    queue.remove(0)
    expect(queue.size).toBe(8)
    queue.set(0, 1)
    expect(drain(queue).map(([slot]) => slot)).toEqual([0, 8, 7, 6, 5, 4, 3, 2, 1])
  })

  test.each([1, 2, 42])('sets, moves and removals across many segments agree with a model (seed %i)', (seed) => {
    const next = random(seed)
    const queue = new ExpiryQueue()
    const model = new Map<number, number>()
    // Slots spread over more than one segment of 2^16, and the heap grows past one segment too.
    for (let step = 0; step < 200_000; step++) {
      const slot = Math.floor(next() * 150_000)
      const roll = next()
      if (roll < 0.7) {
        // A narrow range makes equal deadlines common.
        const deadline = Math.floor(next() * 5000)
        queue.set(slot, deadline)
        model.set(slot, deadline)
      } else if (roll < 0.9) {
        queue.remove(slot)
        model.delete(slot)
      } else if (model.size > 0) {
        // The popped slot carries the deadline it was last given (order is checked by the drain).
        const peeked = queue.peek()
        const popped = queue.pop()
        expect(model.get(popped)).toBe(peeked)
        model.delete(popped)
      }
    }
    expect(queue.size).toBe(model.size)
    const popped = drain(queue)
    const outOfOrder = popped.findIndex((entry, i) => i > 0 && entry[1] < (popped[i - 1] as [number, number])[1])
    expect(outOfOrder).toBe(-1)
    expect(new Map(popped)).toEqual(model)
  })
})

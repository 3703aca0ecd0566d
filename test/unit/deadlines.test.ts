import { DeadlineQueue, DeadlineTimer, MAX_TIMER_MS, type Timed } from '../../lib/deadlines'
import { ExpirySweeper } from '../../lib/store/memory/expiry-sweeper'

// Pure logic on jest's fake clock: far deadlines are re-armed, never fired early or clamped.

beforeEach(() => jest.useFakeTimers({ now: 1_700_000_000_000 }))
afterEach(() => jest.useRealTimers())

const DAY = 24 * 60 * 60 * 1000

describe('DeadlineTimer', () => {
  test('a deadline past the timer limit fires at the deadline, not after 1 ms or at the limit', () => {
    const fired: number[] = []
    const timer = new DeadlineTimer(() => fired.push(Date.now()))
    const deadline = Date.now() + 30 * DAY
    timer.arm(deadline)
    jest.advanceTimersByTime(MAX_TIMER_MS)
    expect(fired).toEqual([])
    jest.advanceTimersByTime(deadline - Date.now() - 1)
    expect(fired).toEqual([])
    jest.advanceTimersByTime(1)
    expect(fired).toEqual([deadline])
    expect(timer.deadline).toBe(Infinity)
  })

  test('arming again replaces the deadline; clear stops it', () => {
    let fired = 0
    const timer = new DeadlineTimer(() => fired++)
    timer.arm(Date.now() + 100)
    timer.arm(Date.now() + 500)
    jest.advanceTimersByTime(499)
    expect(fired).toBe(0)
    timer.clear()
    jest.advanceTimersByTime(10_000)
    expect(fired).toBe(0)
    expect(jest.getTimerCount()).toBe(0)
  })
})

interface Entry extends Timed {
  name: string
}

function entry (name: string, inMs: number): Entry {
  return { name, deadline: Date.now() + inMs, slot: -1 }
}

describe('DeadlineQueue', () => {
  test('fires entries in deadline order; a removed one never fires', () => {
    const fired: string[] = []
    const queue = new DeadlineQueue<Entry>((due) => fired.push(due.name))
    const entries = [entry('c', 300), entry('a', 100), entry('d', 400), entry('b', 200)]
    for (const one of entries) queue.add(one)
    expect(queue.remove(entries[3] as Entry)).toBe(true)
    expect(queue.remove(entries[3] as Entry)).toBe(false)
    jest.advanceTimersByTime(1000)
    expect(fired).toEqual(['a', 'c', 'd'])
    expect(queue.size).toBe(0)
  })

  test('removeAll of most of a large queue keeps the rest in order', () => {
    const fired: number[] = []
    const queue = new DeadlineQueue<Entry & { n: number }>((due) => fired.push(due.n))
    const entries = Array.from({ length: 2000 }, (_, n) => ({ ...entry(String(n), 1 + ((n * 7919) % 2000)), n }))
    for (const one of entries) queue.add(one)
    const dropped = entries.filter((one) => one.n % 10 !== 0)
    queue.removeAll(dropped, dropped.length)
    expect(queue.size).toBe(200)
    jest.advanceTimersByTime(3000)
    for (let i = 0; i < 5; i++) jest.runOnlyPendingTimers()
    const kept = entries.filter((one) => one.n % 10 === 0).sort((x, y) => x.deadline - y.deadline).map((one) => one.n)
    expect(fired).toEqual(kept)
  })

  test('a queue emptied by remove or removeAll stops its timer, so nothing it holds is kept alive', () => {
    const queue = new DeadlineQueue<Entry>(() => {})
    const one = entry('one', DAY)
    queue.add(one)
    expect(jest.getTimerCount()).toBe(1)
    queue.remove(one)
    expect(jest.getTimerCount()).toBe(0)
    const many = Array.from({ length: 100 }, (_, n) => entry(String(n), DAY + n))
    for (const each of many) queue.add(each)
    expect(jest.getTimerCount()).toBe(1)
    queue.removeAll(many, many.length)
    expect(jest.getTimerCount()).toBe(0)
  })

  test('many entries due at once are fired in slices, a turn apart', () => {
    let fired = 0
    const queue = new DeadlineQueue<Entry>(() => fired++)
    for (let n = 0; n < 2500; n++) queue.add(entry(String(n), 10))
    jest.advanceTimersByTime(10)
    expect(fired).toBe(1000)
    jest.runOnlyPendingTimers()
    expect(fired).toBe(2000)
    jest.runOnlyPendingTimers()
    expect(fired).toBe(2500)
  })
})

describe('ExpirySweeper', () => {
  test('a slot has one entry whatever its deadline changes, and expires at its latest', () => {
    const reclaimed: Array<[number, number]> = []
    const sweeper = new ExpirySweeper((slot) => reclaimed.push([slot, Date.now()]))
    const start = Date.now()
    for (let i = 1; i <= 100_000; i++) sweeper.schedule(7, start + 60_000 + i)
    sweeper.schedule(3, start + 1000)
    expect(sweeper.queued).toBe(2)
    // The sweep runs at most every 50 ms.
    jest.advanceTimersByTime(60_000 + 100_000 + 100)
    expect(reclaimed.map(([slot]) => slot)).toEqual([3, 7])
    expect(reclaimed[1]?.[1]).toBeGreaterThanOrEqual(start + 160_000)
    sweeper.close()
  })

  test('a deadline of 0 or a forgotten slot takes the entry out', () => {
    const reclaimed: number[] = []
    const sweeper = new ExpirySweeper((slot) => reclaimed.push(slot))
    sweeper.schedule(1, Date.now() + 1000)
    sweeper.schedule(2, Date.now() + 1000)
    sweeper.schedule(1, 0)
    sweeper.forget(2)
    expect(sweeper.queued).toBe(0)
    jest.advanceTimersByTime(2000)
    expect(reclaimed).toEqual([])
    sweeper.close()
  })

  test('a key due past the timer limit is reclaimed at its deadline', () => {
    const reclaimed: number[] = []
    const sweeper = new ExpirySweeper((slot) => reclaimed.push(slot))
    sweeper.schedule(5, Date.now() + MAX_TIMER_MS + 10 * DAY)
    jest.advanceTimersByTime(MAX_TIMER_MS + 10 * DAY - 1)
    expect(reclaimed).toEqual([])
    jest.advanceTimersByTime(100)
    expect(reclaimed).toEqual([5])
    sweeper.close()
  })
})

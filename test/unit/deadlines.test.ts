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
  test('an unchanged deadline is not queued again', () => {
    const sweeper = new ExpirySweeper(() => {})
    const deadline = Date.now() + 60_000
    sweeper.schedule('hits', deadline)
    for (let i = 0; i < 1000; i++) sweeper.schedule('hits', deadline, deadline)
    expect(sweeper.queued).toBe(1)
    sweeper.schedule('hits', deadline + 1, deadline)
    expect(sweeper.queued).toBe(2)
    sweeper.close()
  })

  test('a key due past the timer limit is reclaimed at its deadline', () => {
    const reclaimed: string[] = []
    const sweeper = new ExpirySweeper((key) => reclaimed.push(key))
    sweeper.schedule('far', Date.now() + MAX_TIMER_MS + 10 * DAY)
    jest.advanceTimersByTime(MAX_TIMER_MS + 10 * DAY - 1)
    expect(reclaimed).toEqual([])
    jest.advanceTimersByTime(100)
    expect(reclaimed).toEqual(['far'])
    sweeper.close()
  })
})

describe('ExpirySweeper compaction', () => {
  test('a key given a new deadline on every write keeps the queue bounded, and expires at its latest', () => {
    const reclaimed: Array<[string, number]> = []
    const sweeper = new ExpirySweeper((key, deadline) => reclaimed.push([key, deadline]))
    let deadline = 0
    for (let i = 1; i <= 100_000; i++) {
      const previous = deadline
      deadline = Date.now() + 60_000 + i
      sweeper.schedule('session', deadline, previous)
    }
    const other = Date.now() + 1000
    sweeper.schedule('other', other)
    expect(sweeper.queued).toBeLessThanOrEqual(2 * 2 + 1024)
    // The sweep runs at most every 50 ms.
    jest.advanceTimersByTime(60_000 + 100_000 + 100)
    expect(reclaimed).toEqual([['other', other], ['session', deadline]])
    sweeper.close()
  })
})

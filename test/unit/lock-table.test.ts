import { LockTable } from '../../lib/store/memory/lock-table'
import {
  SharedStateHostLostError, SharedStateLockNotHeldError, SharedStateLockTimeoutError
} from '../../lib/errors'

// Pure logic: timeouts and leases run on jest's fake clock.

type Outcome<T> =
  | { status: 'pending' }
  | { status: 'resolved', value: T }
  | { status: 'rejected', error: Error & { code?: string } }

/** Watches a promise so a test can look at where it stands without awaiting it. */
function track<T> (promise: Promise<T>): { readonly now: Outcome<T> } {
  let now: Outcome<T> = { status: 'pending' }
  promise.then(
    (value) => { now = { status: 'resolved', value } },
    (error: Error) => { now = { status: 'rejected', error } })
  return { get now () { return now } }
}

/** Lets promise callbacks run (they are microtasks, which fake timers do not hold back). */
async function settle (): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve()
}

function notHeld (run: () => unknown): Error & { code?: string } {
  try {
    run()
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('expected LOCK_NOT_HELD')
}

let table: LockTable

beforeEach(() => {
  jest.useFakeTimers({ now: 1_700_000_000_000 })
  table = new LockTable()
})

afterEach(() => {
  table.close(new SharedStateHostLostError('test over'))
  jest.useRealTimers()
})

describe('acquire and release', () => {
  test('a free lock is granted at once with token 1', async () => {
    expect(table.isLocked('a')).toBe(false)
    await expect(table.acquire('a', 'w1', 1000, 0)).resolves.toBe(1)
    expect(table.isLocked('a')).toBe(true)
    expect(table.held()).toEqual([{ name: 'a', owner: 'w1', token: 1, leaseLeft: 0 }])
    table.release('a', 'w1', 1)
    expect(table.isLocked('a')).toBe(false)
    expect(table.held()).toEqual([])
  })

  test('the same owner is excluded too: a second acquire by the holder waits', async () => {
    await table.acquire('a', 'w1', 1000, 0)
    const second = track(table.acquire('a', 'w1', 1000, 0))
    await settle()
    expect(second.now).toEqual({ status: 'pending' })
    table.release('a', 'w1', 1)
    await settle()
    expect(second.now).toEqual({ status: 'resolved', value: 2 })
  })

  test('locks with different names are independent', async () => {
    await expect(table.acquire('a', 'w1', 1000, 0)).resolves.toBe(1)
    await expect(table.acquire('b', 'w2', 1000, 0)).resolves.toBe(2)
    expect(table.held()).toEqual([
      { name: 'a', owner: 'w1', token: 1, leaseLeft: 0 },
      { name: 'b', owner: 'w2', token: 2, leaseLeft: 0 }
    ])
  })
})

describe('FIFO', () => {
  test('waiters are served first come, first served', async () => {
    await table.acquire('a', 'holder', 10_000, 0)
    const order: string[] = []
    const waiters = ['w1', 'w2', 'w3', 'w4'].map((owner) => {
      const promise = table.acquire('a', owner, 10_000, 0)
      promise.then((token) => order.push(`${owner}:${token}`), () => order.push(`${owner}:rejected`))
      return promise
    })
    expect(table.waiting('a')).toBe(4)
    table.release('a', 'holder', 1)
    await settle()
    expect(order).toEqual(['w1:2'])
    for (const [index, owner] of ['w1', 'w2', 'w3', 'w4'].entries()) {
      const token = await waiters[index]
      expect(token).toBe(index + 2)
      table.release('a', owner, token as number)
      await settle()
    }
    expect(order).toEqual(['w1:2', 'w2:3', 'w3:4', 'w4:5'])
    expect(table.isLocked('a')).toBe(false)
    expect(table.waiting('a')).toBe(0)
  })

  test('a newcomer does not overtake the queue when the lock is released', async () => {
    await table.acquire('a', 'holder', 10_000, 0)
    const first = track(table.acquire('a', 'w1', 10_000, 0))
    table.release('a', 'holder', 1)
    const late = track(table.acquire('a', 'late', 10_000, 0))
    await settle()
    expect(first.now).toEqual({ status: 'resolved', value: 2 })
    expect(late.now).toEqual({ status: 'pending' })
  })

  test('handOffs counts the grants that pass a lock from a holder to a waiter, not free grants', async () => {
    await table.acquire('a', 'holder', 10_000, 0)
    expect(table.handOffs).toBe(0)
    const next = track(table.acquire('a', 'w1', 10_000, 0))
    table.release('a', 'holder', 1)
    // Counted at the release, before the waiter's promise settles: the host reads it right there.
    expect(table.handOffs).toBe(1)
    await settle()
    expect(next.now).toEqual({ status: 'resolved', value: 2 })
    table.release('a', 'w1', 2)
    expect(table.handOffs).toBe(1)
  })
})

describe('timeouts', () => {
  test('a waiter that times out rejects with LOCK_TIMEOUT and leaves the queue', async () => {
    await table.acquire('a', 'holder', 10_000, 0)
    const early = track(table.acquire('a', 'w1', 100, 0))
    const patient = track(table.acquire('a', 'w2', 10_000, 0))
    expect(table.waiting('a')).toBe(2)

    jest.advanceTimersByTime(99)
    await settle()
    expect(early.now.status).toBe('pending')

    jest.advanceTimersByTime(1)
    await settle()
    const outcome = early.now
    expect(outcome.status).toBe('rejected')
    const error = (outcome as { error: Error & { code?: string, statusCode?: number } }).error
    expect(error).toBeInstanceOf(SharedStateLockTimeoutError)
    expect(error.code).toBe('FST_SHARED_STATE_LOCK_TIMEOUT')
    expect(error.message).toBe('Lock "a" was not acquired within 100 ms')
    expect(table.waiting('a')).toBe(1)

    // The next release skips the timed-out waiter.
    table.release('a', 'holder', 1)
    await settle()
    expect(patient.now).toEqual({ status: 'resolved', value: 2 })
    expect(table.held()).toEqual([{ name: 'a', owner: 'w2', token: 2, leaseLeft: 0 }])
  })

  test('when every waiter timed out, a release frees the lock and the next acquire is immediate', async () => {
    await table.acquire('a', 'holder', 10_000, 0)
    const waiters = [track(table.acquire('a', 'w1', 50, 0)), track(table.acquire('a', 'w2', 60, 0))]
    jest.advanceTimersByTime(60)
    await settle()
    expect(waiters.map((waiter) => waiter.now.status)).toEqual(['rejected', 'rejected'])
    table.release('a', 'holder', 1)
    expect(table.isLocked('a')).toBe(false)
    expect(table.waiting('a')).toBe(0)
    await expect(table.acquire('a', 'w3', 10, 0)).resolves.toBe(2)
  })

  test('a waiter granted in time does not time out later', async () => {
    await table.acquire('a', 'holder', 10_000, 0)
    const waiter = track(table.acquire('a', 'w1', 100, 0))
    table.release('a', 'holder', 1)
    jest.advanceTimersByTime(1000)
    await settle()
    expect(waiter.now).toEqual({ status: 'resolved', value: 2 })
    expect(table.isLocked('a')).toBe(true)
  })

  test('a waiter timeout longer than setTimeout\'s 24.8-day maximum still waits', async () => {
    await table.acquire('a', 'holder', 10_000, 0)
    const waiter = track(table.acquire('a', 'w1', 2 ** 31, 0))
    jest.advanceTimersByTime(1000)
    await settle()
    expect(waiter.now).toEqual({ status: 'pending' })
    expect(table.waiting('a')).toBe(1)
  })
})

describe('dropOwner', () => {
  test('the owner\'s locks pass to the next waiter and its own waits are dropped, never granted', async () => {
    await table.acquire('a', 'gone', 10_000, 0)
    await table.acquire('b', 'gone', 10_000, 0)
    await table.acquire('c', 'other', 10_000, 0)
    const nextOnA = track(table.acquire('a', 'w1', 10_000, 0))
    const goneOnC = track(table.acquire('c', 'gone', 10_000, 0))
    const afterGoneOnC = track(table.acquire('c', 'w2', 10_000, 0))

    table.dropOwner('gone')
    await settle()
    expect(nextOnA.now).toEqual({ status: 'resolved', value: 4 })
    expect(table.isLocked('b')).toBe(false)
    expect(table.waiting('c')).toBe(1)
    expect(goneOnC.now).toEqual({ status: 'pending' })

    table.release('c', 'other', 3)
    await settle()
    expect(afterGoneOnC.now).toEqual({ status: 'resolved', value: 5 })
    expect(goneOnC.now).toEqual({ status: 'pending' })
    expect(table.held()).toEqual([
      { name: 'a', owner: 'w1', token: 4, leaseLeft: 0 },
      { name: 'c', owner: 'w2', token: 5, leaseLeft: 0 }
    ])
  })

  test('a dropped waiter\'s timeout does not fire later', async () => {
    await table.acquire('a', 'holder', 10_000, 0)
    const dropped = track(table.acquire('a', 'gone', 100, 0))
    table.dropOwner('gone')
    jest.advanceTimersByTime(1000)
    await settle()
    expect(dropped.now).toEqual({ status: 'pending' })
  })

  test('with an error, the dropped waits reject with it', async () => {
    await table.acquire('a', 'holder', 10_000, 0)
    const dropped = track(table.acquire('a', 'closing', 10_000, 0))
    const error = new SharedStateHostLostError('the store was closed')
    table.dropOwner('closing', error)
    await settle()
    expect(dropped.now).toEqual({ status: 'rejected', error })
    expect(table.held()).toEqual([{ name: 'a', owner: 'holder', token: 1, leaseLeft: 0 }])
  })

  test('an owner holding nothing and waiting for nothing changes nothing', async () => {
    await table.acquire('a', 'holder', 10_000, 0)
    const waiter = track(table.acquire('a', 'w1', 10_000, 0))
    table.dropOwner('stranger')
    await settle()
    expect(waiter.now).toEqual({ status: 'pending' })
    expect(table.held()).toEqual([{ name: 'a', owner: 'holder', token: 1, leaseLeft: 0 }])
  })
})

describe('fencing tokens', () => {
  test('tokens strictly increase for each grant, from one counter for every lock', async () => {
    const tokens: number[] = []
    for (let i = 0; i < 5; i++) {
      const token = await table.acquire('a', `w${i}`, 1000, 0)
      tokens.push(token)
      table.release('a', `w${i}`, token)
    }
    expect(tokens).toEqual([1, 2, 3, 4, 5])
    await expect(table.acquire('b', 'w', 1000, 0)).resolves.toBe(6)
    expect(table.tokens()).toEqual([['', 6]])
  })

  test('a lock nobody holds or waits for is forgotten, and its next token is still higher', async () => {
    for (let i = 0; i < 1000; i++) {
      const token = await table.acquire(`order:${i}`, 'w', 1000, 0)
      table.release(`order:${i}`, 'w', token)
    }
    expect(table.size).toBe(0)
    expect(table.describe()).toEqual([])
    await expect(table.acquire('order:0', 'w', 1000, 0)).resolves.toBe(1001)
    expect(table.size).toBe(1)
  })

  test('grants through the queue, lease expiry and dropOwner all take the next token', async () => {
    await table.acquire('a', 'w1', 10_000, 100)
    const second = table.acquire('a', 'w2', 10_000, 0)
    const third = table.acquire('a', 'w3', 10_000, 0)
    jest.advanceTimersByTime(100)
    await expect(second).resolves.toBe(2)
    table.dropOwner('w2')
    await expect(third).resolves.toBe(3)
  })

  test('restoreTokens raises the counters; it never lowers them', async () => {
    await table.acquire('a', 'w', 1000, 0)
    table.release('a', 'w', 1)
    table.restoreTokens([['a', 41], ['fresh', 7]])
    await expect(table.acquire('a', 'w', 1000, 0)).resolves.toBe(42)
    await expect(table.acquire('fresh', 'w', 1000, 0)).resolves.toBe(43)
    table.restoreTokens([['a', 3]])
    table.release('a', 'w', 42)
    await expect(table.acquire('a', 'w', 1000, 0)).resolves.toBe(44)
  })

  test('a grant that reserves turns takes a block: the next grant, queued or free, is above it', async () => {
    const first = await table.acquire('a', 'w1', 1000, 0, { turns: 16 })
    expect(first).toBe(1)
    expect(table.tokens()).toEqual([['', 16]])
    const queued = table.acquire('a', 'w2', 1000, 0, { turns: 4 })
    table.release('a', 'w1', first)
    await expect(queued).resolves.toBe(17)
    expect(table.tokens()).toEqual([['', 20]])
    await expect(table.acquire('b', 'w3', 1000, 0)).resolves.toBe(21)
  })

  test('onGrant is told the highest token a grant reserved, so a restored counter is above the block', async () => {
    const told: Array<[string, number]> = []
    table.onGrant = (name, token) => told.push([name, token])
    await table.acquire('a', 'w', 1000, 0, { turns: 8 })
    expect(told).toEqual([['a', 8]])
  })

  test('holds: only the owner, under the token it was granted', async () => {
    const token = await table.acquire('a', 'w1', 1000, 0, { turns: 4 })
    expect(table.holds('a', 'w1', token)).toBe(true)
    expect(table.holds('a', 'w1', token + 1)).toBe(false)
    expect(table.holds('a', 'w2', token)).toBe(false)
    expect(table.holds('b', 'w1', token)).toBe(false)
    table.release('a', 'w1', token)
    expect(table.holds('a', 'w1', token)).toBe(false)
  })

  test('a new table counts from its token base', async () => {
    const based = new LockTable(() => 1000)
    try {
      await expect(based.acquire('a', 'w', 1000, 0)).resolves.toBe(1001)
    } finally {
      based.close(new SharedStateHostLostError('test over'))
    }
  })
})

describe('release by someone who does not hold the lock', () => {
  test.each([
    ['a wrong token', 'w1', 2],
    ['a wrong owner', 'w2', 1],
    ['an older token', 'w1', 0]
  ])('%s is refused with LOCK_NOT_HELD and the holder keeps the lock', async (_name, owner, token) => {
    await table.acquire('a', 'w1', 1000, 0)
    const waiter = track(table.acquire('a', 'w3', 10_000, 0))
    const error = notHeld(() => table.release('a', owner, token))
    expect(error).toBeInstanceOf(SharedStateLockNotHeldError)
    expect(error.code).toBe('FST_SHARED_STATE_LOCK_NOT_HELD')
    expect(error.message).toBe(`Lock "a" is not held by token ${token} (released, expired or taken over)`)
    await settle()
    expect(table.held()).toEqual([{ name: 'a', owner: 'w1', token: 1, leaseLeft: 0 }])
    expect(waiter.now).toEqual({ status: 'pending' })
  })

  test('a lock nobody ever took, and a second release, are refused', async () => {
    expect(notHeld(() => table.release('never', 'w1', 1))).toBeInstanceOf(SharedStateLockNotHeldError)
    await table.acquire('a', 'w1', 1000, 0)
    table.release('a', 'w1', 1)
    expect(notHeld(() => table.release('a', 'w1', 1))).toBeInstanceOf(SharedStateLockNotHeldError)
  })
})

describe('leases', () => {
  test('a holder past its ttl loses the lock to the next waiter; its late release is refused', async () => {
    await table.acquire('a', 'hung', 10_000, 500)
    expect(table.held()).toEqual([{ name: 'a', owner: 'hung', token: 1, leaseLeft: 500 }])
    const next = track(table.acquire('a', 'w1', 10_000, 0))

    jest.advanceTimersByTime(200)
    expect(table.held()).toEqual([{ name: 'a', owner: 'hung', token: 1, leaseLeft: 300 }])
    jest.advanceTimersByTime(299)
    await settle()
    expect(next.now).toEqual({ status: 'pending' })

    jest.advanceTimersByTime(1)
    await settle()
    expect(next.now).toEqual({ status: 'resolved', value: 2 })

    const error = notHeld(() => table.release('a', 'hung', 1))
    expect(error).toBeInstanceOf(SharedStateLockNotHeldError)
    expect(table.held()).toEqual([{ name: 'a', owner: 'w1', token: 2, leaseLeft: 0 }])
  })

  test('a lease that ends with nobody waiting leaves the lock free', async () => {
    await table.acquire('a', 'hung', 10_000, 500)
    jest.advanceTimersByTime(500)
    expect(table.isLocked('a')).toBe(false)
    expect(notHeld(() => table.release('a', 'hung', 1))).toBeInstanceOf(SharedStateLockNotHeldError)
  })

  test('releasing before the lease ends cancels it: the next holder is not cut short', async () => {
    await table.acquire('a', 'w1', 10_000, 500)
    table.release('a', 'w1', 1)
    await table.acquire('a', 'w2', 10_000, 0)
    jest.advanceTimersByTime(1000)
    expect(table.held()).toEqual([{ name: 'a', owner: 'w2', token: 2, leaseLeft: 0 }])
  })

  test('a waiter granted the lock gets its own lease from the time of the grant', async () => {
    await table.acquire('a', 'w1', 10_000, 0)
    const next = table.acquire('a', 'w2', 10_000, 300)
    jest.advanceTimersByTime(1000)
    table.release('a', 'w1', 1)
    await expect(next).resolves.toBe(2)
    jest.advanceTimersByTime(299)
    expect(table.isLocked('a')).toBe(true)
    jest.advanceTimersByTime(1)
    expect(table.isLocked('a')).toBe(false)
  })

  test('a lease longer than setTimeout\'s 24.8-day maximum is kept', async () => {
    await table.acquire('a', 'w1', 10_000, 2 ** 31)
    jest.advanceTimersByTime(1000)
    expect(table.isLocked('a')).toBe(true)
    expect(table.held()).toEqual([{ name: 'a', owner: 'w1', token: 1, leaseLeft: 2 ** 31 - 1000 }])
  })

  test('held() and restoreHolders() carry holders, tokens and lease left to a new table', async () => {
    await table.acquire('a', 'w1', 10_000, 1000)
    await table.acquire('b', 'w2', 10_000, 0)
    jest.advanceTimersByTime(400)
    const next = new LockTable()
    try {
      next.restoreHolders(table.held())
      expect(next.held()).toEqual([
        { name: 'a', owner: 'w1', token: 1, leaseLeft: 600 },
        { name: 'b', owner: 'w2', token: 2, leaseLeft: 0 }
      ])
      next.release('b', 'w2', 2)
      await expect(next.acquire('b', 'w3', 10, 0)).resolves.toBe(3)
      jest.advanceTimersByTime(600)
      expect(next.isLocked('a')).toBe(false)
    } finally {
      next.close(new SharedStateHostLostError('test over'))
    }
  })
})

describe('deadlines the caller sends', () => {
  test('a wait ends at the caller\'s deadline, not a whole timeout after the request arrived', async () => {
    await table.acquire('a', 'holder', 10_000, 0)
    // Sent 700 ms ago with a 1000 ms timeout (a resend to a new host): 300 ms are left.
    const resent = track(table.acquire('a', 'w1', 1000, 0, { deadline: Date.now() + 300 }))
    jest.advanceTimersByTime(299)
    await settle()
    expect(resent.now.status).toBe('pending')
    jest.advanceTimersByTime(1)
    await settle()
    expect(resent.now.status).toBe('rejected')
    expect(table.waiting('a')).toBe(0)
  })

  test('a wait whose deadline has passed on arrival is refused at once', async () => {
    await table.acquire('a', 'holder', 10_000, 0)
    await expect(table.acquire('a', 'w1', 1000, 0, { deadline: Date.now() - 1 })).rejects.toBeInstanceOf(SharedStateLockTimeoutError)
    expect(table.waiting('a')).toBe(0)
  })

  test('a free lock is granted past the deadline only within the grace, while the caller still waits', async () => {
    table.grantGrace = 500
    await expect(table.acquire('a', 'w1', 100, 0, { deadline: Date.now() - 400 })).resolves.toBe(1)
    table.release('a', 'w1', 1)
    await expect(table.acquire('a', 'w1', 100, 0, { deadline: Date.now() - 600 })).rejects.toBeInstanceOf(SharedStateLockTimeoutError)
    expect(table.isLocked('a')).toBe(false)
    expect(table.size).toBe(0)
  })
})

describe('memory', () => {
  test('a timed-out waiter leaves the queue at once, while the lock is still held', async () => {
    await table.acquire('a', 'holder', 10_000, 0)
    const waiters = Array.from({ length: 5000 }, (_, i) => track(table.acquire('a', `w${i}`, 100 + (i % 7), 0)))
    expect(table.waiting('a')).toBe(5000)
    jest.advanceTimersByTime(200)
    // The due waiters are rejected in slices, a turn apart.
    for (let i = 0; i < 10; i++) {
      jest.runOnlyPendingTimers()
      await settle()
    }
    expect(table.waiting('a')).toBe(0)
    expect(waiters.every((waiter) => waiter.now.status === 'rejected')).toBe(true)
    expect(table.isLocked('a')).toBe(true)
  })

  test('dropWaits with a tag drops the waits that came that way and leaves the owner\'s others and its locks', async () => {
    const oldConnection = {}
    const newConnection = {}
    await table.acquire('a', 'holder', 10_000, 0)
    await table.acquire('b', 'w', 10_000, 0)
    const old = track(table.acquire('a', 'w', 10_000, 0, { tag: oldConnection }))
    const fresh = track(table.acquire('a', 'w', 10_000, 0, { tag: newConnection }))
    table.dropWaits('w', oldConnection)
    expect(table.waiting('a')).toBe(1)
    table.release('a', 'holder', 1)
    await settle()
    expect(old.now.status).toBe('pending')
    expect(fresh.now).toEqual({ status: 'resolved', value: 3 })
    expect(table.held().map(({ name, owner }) => [name, owner])).toEqual([['a', 'w'], ['b', 'w']])
  })
})

describe('close', () => {
  test('waiters are rejected with the given error and no timer is left', async () => {
    await table.acquire('a', 'w1', 10_000, 5000)
    const waiter = track(table.acquire('a', 'w2', 10_000, 0))
    const error = new SharedStateHostLostError('closing')
    table.close(error)
    await settle()
    expect(waiter.now).toEqual({ status: 'rejected', error })
    expect(table.isLocked('a')).toBe(false)
    expect(jest.getTimerCount()).toBe(0)
  })
})

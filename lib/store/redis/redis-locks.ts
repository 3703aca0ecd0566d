import { randomBytes } from 'node:crypto'
import { deadlineIn, DeadlineTimer } from '../../deadlines'
import { SharedStateHostLostError, SharedStateLockNotHeldError, SharedStateLockTimeoutError } from '../../errors'
import type { LockAcquireOptions } from '../store'
import type { KeyLayout, LockKeys } from './keys'
import type { RedisLink } from './redis-link'

/** Lease of a lock taken without a ttl; renewed every third of it while this process lives. */
export const DEFAULT_LEASE = 10000
// A waiting process checks in at least this often, even if no release message reaches it (a
// holder's lease ran out, a message was lost while reconnecting): no busy polling, bounded waits.
const RETRY_INTERVAL = 250
// A queued process that has not checked in for this long is taken for dead and leaves the queue.
const WAITER_TTL = 4 * RETRY_INTERVAL

interface Waiter {
  ttl: number
  /** 0: try once, do not wait. */
  timeout: number
  /** Counted in `waits` already. */
  waited: boolean
  resolve: (token: number) => void
  reject: (error: Error) => void
  timer: DeadlineTimer | undefined
  done: boolean
}

/** This process' waiters for one lock, first come first served, and its place in Redis' queue. */
interface LockQueue {
  keys: LockKeys
  waiters: Waiter[]
  attempting: boolean
  /** A release was announced while an attempt was in flight: try again at once. */
  wokenMeanwhile: boolean
  /** This process may have an entry in the lock's Redis queue. */
  queued: boolean
  retry: NodeJS.Timeout | undefined
}

interface Grant {
  name: string
  token: string
  renewal: NodeJS.Timeout | undefined
  /** False once released or given back: a renewal answering late must not re-arm its timer. */
  live: boolean
}

/**
 * Named locks in Redis. A grant is `SET NX PX` of a random token (inside the acquire script), the
 * release a compare-and-delete, and the public token a fencing number from a per-lock counter.
 *
 * Waiting is two-level: the requests of this process line up here, first come first served, and
 * only the first of them competes in Redis, where processes line up in a queue of their own (see
 * LOCK_ACQUIRE in scripts.ts). A release publishes one message that wakes the process first in
 * that queue; a waiting process that hears nothing retries after at most RETRY_INTERVAL, or when
 * the holder's lease runs out if that comes first (which also refreshes its place in the queue).
 */
export class RedisLocks {
  readonly #link: RedisLink
  readonly #keys: KeyLayout
  /** This worker's id in the locks' queues (and in its connections' names). */
  readonly #owner: string
  readonly #queues = new Map<string, LockQueue>()
  readonly #grants = new Map<string, Grant>()
  #closed = false
  #waits = 0

  constructor (link: RedisLink, keys: KeyLayout, owner: string) {
    this.#link = link
    this.#keys = keys
    this.#owner = owner
  }

  /** This worker's acquires waiting now. */
  get waiting (): number {
    let count = 0
    for (const queue of this.#queues.values()) for (const waiter of queue.waiters) if (!waiter.done) count++
    return count
  }

  /** This worker's acquires that had to wait, since it started. */
  get waits (): number {
    return this.#waits
  }

  acquire (name: string, options: LockAcquireOptions): Promise<number> {
    if (this.#closed) return Promise.reject(new SharedStateHostLostError('the store was closed'))
    const queue = this.#queue(name)
    // No time to wait, and someone here is already waiting: as good as timed out.
    if (options.timeout === 0 && this.#head(queue) !== undefined) {
      return Promise.reject(new SharedStateLockTimeoutError(name, 0))
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { ttl: options.ttl, timeout: options.timeout, waited: false, resolve, reject, timer: undefined, done: false }
      if (options.timeout > 0) {
        // A wait of any length: the timer is re-armed past Node's limit. It does not keep the
        // process alive; the waiting caller's own work does.
        waiter.timer = new DeadlineTimer(() => {
          waiter.done = true
          reject(new SharedStateLockTimeoutError(name, options.timeout))
          this.#prune(name, queue)
        })
        waiter.timer.arm(options.deadline ?? deadlineIn(options.timeout))
      }
      queue.waiters.push(waiter)
      // Otherwise an attempt is in flight or scheduled, and it serves the first in line.
      if (!queue.attempting && queue.retry === undefined) {
        this.#attempt(name, queue)
      } else {
        waiter.waited = true
        this.#waits++
      }
    })
  }

  async release (name: string, fence: number): Promise<void> {
    const grant = this.#grants.get(grantKey(name, fence))
    if (grant === undefined) throw new SharedStateLockNotHeldError(name, fence)
    this.#grants.delete(grantKey(name, fence))
    grant.live = false
    clearTimeout(grant.renewal)
    const keys = this.#keys.lock(name)
    const released = this.#link.call('releaseLock', (client) =>
      client.ssLockRelease(keys.holder, keys.queue, grant.token, this.#keys.lockReleased, name))
    // Our own next waiter tries at once, on the same connection, so right after the release: it
    // need not wait for the release's answer or message.
    this.wake(name)
    if (await released !== 1) throw new SharedStateLockNotHeldError(name, fence)
  }

  isLocked (name: string): Promise<boolean> {
    return this.#link.call('isLocked', async (client) => (await client.exists(this.#keys.lock(name).holder)) === 1)
  }

  /** A release was announced (pub/sub) for the process first in the lock's queue. */
  woken (owner: string, name: string): void {
    if (owner === this.#owner) this.wake(name)
  }

  /** The first waiter here, if any, tries now. */
  wake (name: string): void {
    const queue = this.#queues.get(name)
    if (queue === undefined) return
    if (queue.attempting) {
      queue.wokenMeanwhile = true
    } else {
      this.#attempt(name, queue)
    }
  }

  /** Refuses every waiter, stops every renewal, and gives back what this process holds or queues for. */
  async close (): Promise<void> {
    this.#closed = true
    // With Redis away there is nothing to give back: leases and queue places lapse by themselves.
    const reachable = this.#link.connected
    const closing: Array<Promise<unknown>> = []
    for (const [name, queue] of this.#queues) {
      clearTimeout(queue.retry)
      for (const waiter of queue.waiters) this.#settle(waiter, new SharedStateHostLostError('the store was closed'))
      queue.waiters = []
      if (queue.queued && reachable) closing.push(this.#leave(name, queue))
    }
    for (const [key, grant] of this.#grants) {
      grant.live = false
      clearTimeout(grant.renewal)
      const keys = this.#keys.lock(grant.name)
      if (reachable) {
        closing.push(this.#link.call('releaseLock', (client) =>
          client.ssLockRelease(keys.holder, keys.queue, grant.token, this.#keys.lockReleased, grant.name)))
      }
      this.#grants.delete(key)
    }
    await Promise.allSettled(closing)
  }

  #queue (name: string): LockQueue {
    let queue = this.#queues.get(name)
    if (queue === undefined) {
      queue = { keys: this.#keys.lock(name), waiters: [], attempting: false, wokenMeanwhile: false, queued: false, retry: undefined }
      this.#queues.set(name, queue)
    }
    return queue
  }

  /** The first live waiter tries for the lock in Redis. */
  #attempt (name: string, queue: LockQueue): void {
    clearTimeout(queue.retry)
    queue.retry = undefined
    const waiter = this.#head(queue)
    if (waiter === undefined || queue.attempting || this.#closed) return
    queue.attempting = true
    queue.wokenMeanwhile = false
    const token = randomBytes(16).toString('hex')
    const lease = waiter.ttl > 0 ? waiter.ttl : DEFAULT_LEASE
    const { keys } = queue
    this.#link.call('acquireLock', (client) =>
      client.ssLockAcquire(keys.holder, keys.queue, keys.waiters, keys.fence, this.#owner, token, lease, WAITER_TTL))
      .then(([granted, value]) => {
        queue.attempting = false
        if (granted === 1) {
          queue.queued = false
          this.#granted(name, queue, waiter, token, Number(value))
        } else {
          queue.queued = true
          this.#waitAgain(name, queue, Number(value))
        }
      }, (error: Error) => {
        queue.attempting = false
        // Redis is unreachable (HOST_LOST, or TIMEOUT after `timeout`): this waiter gets the error.
        this.#settle(waiter, error)
        this.#prune(name, queue)
      })
  }

  #granted (name: string, queue: LockQueue, waiter: Waiter, token: string, fence: number): void {
    if (waiter.done) {
      // It timed out while the grant was on its way: give the lock back for the next in line.
      const { keys } = queue
      this.#link.call('releaseLock', (client) =>
        client.ssLockRelease(keys.holder, keys.queue, token, this.#keys.lockReleased, name)).catch(() => {})
    } else {
      const grant: Grant = { name, token, renewal: undefined, live: true }
      if (waiter.ttl === 0) grant.renewal = this.#renewal(grant, queue.keys)
      this.#grants.set(grantKey(name, fence), grant)
      this.#settle(waiter, undefined, fence)
    }
    this.#prune(name, queue)
  }

  /** Not our turn: wait for a release message, the holder's lease to run out, or the retry interval. */
  #waitAgain (name: string, queue: LockQueue, leaseLeft: number): void {
    const head = this.#head(queue)
    if (head?.timeout === 0) this.#settle(head, new SharedStateLockTimeoutError(name, 0))
    if (head !== undefined && !head.waited) {
      head.waited = true
      this.#waits++
    }
    if (head === undefined || head.timeout === 0 || this.#closed) {
      this.#prune(name, queue)
      return
    }
    if (queue.wokenMeanwhile) {
      this.#attempt(name, queue)
      return
    }
    const delay = leaseLeft > 0 && leaseLeft < RETRY_INTERVAL ? leaseLeft + 1 : RETRY_INTERVAL
    queue.retry = setTimeout(() => this.#attempt(name, queue), delay)
  }

  /** Keeps the lease alive every third of it while this process lives; stops once it is lost. */
  #renewal (grant: Grant, keys: LockKeys): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#link.call('renewLock', (client) => client.ssLockRenew(keys.holder, grant.token, DEFAULT_LEASE))
        .then((renewed) => { if (renewed === 1 && grant.live) timer.refresh() }, () => { if (grant.live) timer.refresh() })
    }, Math.floor(DEFAULT_LEASE / 3))
    timer.unref()
    return timer
  }

  /** Drops finished waiters; the next one tries, or this process leaves Redis' queue. */
  #prune (name: string, queue: LockQueue): void {
    while (queue.waiters[0]?.done === true) queue.waiters.shift()
    if (queue.attempting) return
    if (queue.waiters.length > 0) {
      if (queue.retry === undefined) this.#attempt(name, queue)
      return
    }
    clearTimeout(queue.retry)
    queue.retry = undefined
    if (queue.queued) this.#leave(name, queue).catch(() => {})
    if (this.#queues.get(name) === queue) this.#queues.delete(name)
  }

  #leave (name: string, queue: LockQueue): Promise<unknown> {
    queue.queued = false
    const { keys } = queue
    return this.#link.call('releaseLock', (client) =>
      client.ssLockLeave(keys.holder, keys.queue, keys.waiters, this.#owner, this.#keys.lockReleased, name))
  }

  #head (queue: LockQueue): Waiter | undefined {
    while (queue.waiters[0]?.done === true) queue.waiters.shift()
    return queue.waiters[0]
  }

  #settle (waiter: Waiter, error: Error | undefined, token = 0): void {
    if (waiter.done && error !== undefined) return
    waiter.done = true
    waiter.timer?.clear()
    if (error === undefined) {
      waiter.resolve(token)
    } else {
      waiter.reject(error)
    }
  }
}

function grantKey (name: string, fence: number): string {
  return `${name}\0${fence}`
}

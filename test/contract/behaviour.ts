import type { FastifyInstance } from 'fastify'

/**
 * The behaviour every backend promises, written once. Each backend's test file calls
 * `describeStore` with a way to get two workers sharing one state; where a backend cannot honour
 * a promise, that is a named flag here, never a copied test.
 */

export interface Workers {
  /** Two Fastify instances, each with the plugin registered, sharing one state. */
  a: FastifyInstance
  b: FastifyInstance
}

export interface BackendFlags {
  /** The role both workers report (a: first registered). */
  roles: [string, string]
}

async function settle<T> (promise: Promise<T>): Promise<{ code?: string, value?: T }> {
  try {
    return { value: await promise }
  } catch (error) {
    return { code: (error as { code?: string }).code }
  }
}

export function describeStore (name: string, open: () => Promise<Workers>, close: (workers: Workers) => Promise<void>, flags: BackendFlags): void {
  describe(`store behaviour: ${name}`, () => {
    let a: FastifyInstance
    let b: FastifyInstance
    let workers: Workers

    beforeAll(async () => {
      workers = await open()
      a = workers.a
      b = workers.b
    })

    afterAll(async () => {
      if (workers !== undefined) await close(workers)
    })

    beforeEach(async () => {
      await a.shared.clear()
    })

    test('roles', () => {
      expect([a.shared.role, b.shared.role]).toEqual(flags.roles)
    })

    describe('map', () => {
      test('set in one worker, get in the other', async () => {
        await a.shared.set('greeting', { hello: 'world', n: [1, 2, 3] })
        expect(await b.shared.get('greeting')).toEqual({ hello: 'world', n: [1, 2, 3] })
        expect(await b.shared.get('missing')).toBeUndefined()
      })

      test('get returns a copy: mutating it changes nothing shared', async () => {
        await a.shared.set('list', [1, 2])
        const copy = await a.shared.get<number[]>('list')
        copy?.push(3)
        expect(await a.shared.get('list')).toEqual([1, 2])
        expect(await b.shared.get('list')).toEqual([1, 2])
      })

      test('set stores a copy: mutating the argument later changes nothing shared', async () => {
        const value = { n: 1 }
        await a.shared.set('obj', value)
        value.n = 2
        expect(await b.shared.get('obj')).toEqual({ n: 1 })
      })

      test('null and falsy values are values, not absence', async () => {
        await a.shared.set('null', null)
        await a.shared.set('zero', 0)
        await a.shared.set('empty', '')
        expect(await b.shared.has('null')).toBe(true)
        expect(await b.shared.get('null')).toBeNull()
        expect(await b.shared.get('zero')).toBe(0)
        expect(await b.shared.get('empty')).toBe('')
      })

      test('setIfAbsent sets only the first time', async () => {
        expect(await a.shared.setIfAbsent('once', 1)).toBe(true)
        expect(await b.shared.setIfAbsent('once', 2)).toBe(false)
        expect(await a.shared.get('once')).toBe(1)
      })

      test('has and delete', async () => {
        await a.shared.set('k', 1)
        expect(await b.shared.has('k')).toBe(true)
        expect(await b.shared.delete('k')).toBe(true)
        expect(await b.shared.delete('k')).toBe(false)
        expect(await a.shared.has('k')).toBe(false)
      })

      test('keys, entries and size, with and without a prefix', async () => {
        await a.shared.set('user:1', 'ann')
        await a.shared.set('user:2', 'bob')
        await a.shared.set('other', true)
        expect((await b.shared.keys()).sort()).toEqual(['other', 'user:1', 'user:2'])
        expect((await b.shared.keys('user:')).sort()).toEqual(['user:1', 'user:2'])
        expect((await b.shared.entries('user:')).sort()).toEqual([['user:1', 'ann'], ['user:2', 'bob']])
        expect(await b.shared.size()).toBe(3)
      })

      test('clear empties the map for everyone', async () => {
        await a.shared.set('x', 1)
        await b.shared.clear()
        expect(await a.shared.size()).toBe(0)
        expect(await a.shared.get('x')).toBeUndefined()
      })

      test('operations from one worker apply in call order', async () => {
        const calls = [a.shared.set('order', 1), a.shared.set('order', 2), a.shared.delete('order'), a.shared.set('order', 3)]
        await Promise.all(calls)
        expect(await b.shared.get('order')).toBe(3)
      })
    })

    describe('scan', () => {
      /** Every page of a scan, as arrays of keys, with `between(pageNumber)` run after each page. */
      async function pagesOf (worker: FastifyInstance, prefix: string, count: number, between: (page: number) => Promise<void> = async () => {}): Promise<Array<Array<[string, unknown]>>> {
        const pages: Array<Array<[string, unknown]>> = []
        for await (const page of worker.shared.scan(prefix, { count })) {
          pages.push(page)
          await between(pages.length)
        }
        return pages
      }

      const name = (i: number): string => `scan:${String(i).padStart(4, '0')}`

      test('pages of `count` entries (the last one shorter) that together hold every key of the prefix once', async () => {
        for (let i = 0; i < 250; i++) await a.shared.set(name(i), { i })
        await a.shared.set('other', 1)
        for (const worker of [a, b]) {
          const pages = await pagesOf(worker, 'scan:', 100)
          expect(pages.map((page) => page.length)).toEqual([100, 100, 50])
          const entries = pages.flat()
          expect(new Map(entries).size).toBe(250)
          for (const [key, value] of entries) expect(value).toEqual({ i: Number(key.slice(5)) })
        }
        expect((await pagesOf(b, '', 1000)).flat().map(([key]) => key).sort()).toEqual([...Array.from({ length: 250 }, (_, i) => name(i)), 'other'].sort())
        expect(await pagesOf(b, 'none:', 10)).toEqual([])
      })

      test('a key present for the whole scan is returned; keys added or removed meanwhile may or may not be', async () => {
        for (let i = 0; i < 300; i++) await a.shared.set(name(i), i)
        const removed = new Set<string>()
        const added = new Set<string>()
        const pages = await pagesOf(b, 'scan:', 50, async (page) => {
          // Removals and additions all over the range, ahead of and behind the scan.
          for (let j = 0; j < 5; j++) {
            const gone = name((page * 37 + j * 59) % 300)
            if (await a.shared.delete(gone)) removed.add(gone)
            const fresh = `${name((page * 41 + j * 61) % 300)}:new`
            await a.shared.set(fresh, -1)
            added.add(fresh)
          }
        })
        const seen = new Set(pages.flat().map(([key]) => key))
        for (let i = 0; i < 300; i++) {
          if (!removed.has(name(i))) expect(seen).toContain(name(i))
        }
        for (const key of seen) expect(key.endsWith(':new') ? added.has(key) : Number(key.slice(5)) < 300).toBe(true)
      })

      test('a scan stopped early leaves nothing behind, and a bad count is refused', async () => {
        for (let i = 0; i < 30; i++) await a.shared.set(name(i), i)
        const iterator = b.shared.scan('scan:', { count: 10 })[Symbol.asyncIterator]()
        expect((await iterator.next()).value).toHaveLength(10)
        await iterator.return?.()
        expect(await b.shared.size()).toBe(30)
        for (const count of [0, -1, 1.5]) {
          expect((await settle(b.shared.scan('scan:', { count })[Symbol.asyncIterator]().next())).code).toBe('FST_SHARED_STATE_OPTIONS')
        }
      })

      test('keys and entries of more than one frame arrive whole', async () => {
        // 20 MB of values against the default 16 MiB frame limit.
        const big = 'v'.repeat(10_000)
        await Promise.all(Array.from({ length: 2000 }, (_, i) => a.shared.set(name(i), big)))
        const entries = await b.shared.entries<string>('scan:')
        expect(entries).toHaveLength(2000)
        expect(entries.every(([, value]) => value === big)).toBe(true)
        expect((await a.shared.keys('scan:')).sort()).toEqual(Array.from({ length: 2000 }, (_, i) => name(i)))
        expect(await b.shared.size()).toBe(2000)
      })
    })

    describe('values', () => {
      test('every supported type round-trips with its type', async () => {
        const value = {
          date: new Date('2024-02-29T12:00:00.123Z'),
          map: new Map<unknown, unknown>([['a', 1], [2, { b: true }]]),
          set: new Set([1, 'two', 3]),
          big: 2n ** 70n,
          negative: -(2n ** 64n),
          buffer: Buffer.from('buffer'),
          bytes: new Uint8Array([1, 2, 3]),
          floats: new Float64Array([1.5, -2.25]),
          ints: new Int32Array([-1, 2, 3]),
          bigints: new BigInt64Array([-(2n ** 63n), 2n ** 62n]),
          clamped: new Uint8ClampedArray([0, 255]),
          nested: [{ deep: [new Date(0)] }]
        }
        await a.shared.set('types', value)
        const back = await b.shared.get<typeof value>('types')
        expect(back).toEqual(value)
        expect(back?.date).toBeInstanceOf(Date)
        expect(back?.map).toBeInstanceOf(Map)
        expect(back?.set).toBeInstanceOf(Set)
        expect(typeof back?.big).toBe('bigint')
        expect(Buffer.isBuffer(back?.buffer)).toBe(true)
        expect(Buffer.isBuffer(back?.bytes)).toBe(false)
        expect(back?.bytes).toBeInstanceOf(Uint8Array)
        expect(back?.floats).toBeInstanceOf(Float64Array)
        expect(back?.bigints).toBeInstanceOf(BigInt64Array)
        expect(back?.clamped).toBeInstanceOf(Uint8ClampedArray)
      })

      test('undefined, functions and symbols are refused, naming the key, and store nothing', async () => {
        const refused = [undefined, () => 1, Symbol('s'), { nested: undefined }, [1, undefined], new Map([['k', undefined]])]
        for (const value of refused) {
          const result = await settle(a.shared.set('bad', value))
          expect(result.code).toBe('FST_SHARED_STATE_UNSUPPORTED_VALUE')
        }
        const error = await a.shared.set('named-key', undefined).catch((e: Error) => e)
        expect((error as Error).message).toContain('named-key')
        expect(await b.shared.has('bad')).toBe(false)
      })

      test('a key must be a string', async () => {
        const result = await settle(a.shared.get(42 as unknown as string))
        expect(result.code).toBe('FST_SHARED_STATE_BAD_PATH')
      })
    })

    describe('atomic counters and read-modify-write', () => {
      test('incr counts from 0, by any amount, atomically across workers', async () => {
        expect(await a.shared.incr('n')).toBe(1)
        expect(await b.shared.incr('n', 10)).toBe(11)
        expect(await a.shared.incr('n', -1.5)).toBe(9.5)
        const answers = await Promise.all([
          ...Array.from({ length: 200 }, () => a.shared.incr('c')),
          ...Array.from({ length: 200 }, () => b.shared.incr('c'))
        ])
        expect(answers.sort((x, y) => x - y)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1))
      })

      test('incr on a non-number rejects with NOT_A_NUMBER and leaves the value', async () => {
        await a.shared.set('s', 'text')
        expect((await settle(b.shared.incr('s'))).code).toBe('FST_SHARED_STATE_NOT_A_NUMBER')
        expect(await a.shared.get('s')).toBe('text')
      })

      test('compareAndSet compares encoded values', async () => {
        expect(await a.shared.compareAndSet('cas', undefined, { v: 1 })).toBe(true)
        expect(await b.shared.compareAndSet('cas', { v: 2 }, { v: 3 })).toBe(false)
        expect(await b.shared.compareAndSet('cas', { v: 1 }, { v: 3 })).toBe(true)
        expect(await a.shared.get('cas')).toEqual({ v: 3 })
        expect(await a.shared.compareAndSet('cas', undefined, 0)).toBe(false)
      })

      test('update is atomic across workers: 2 x 100 concurrent updates give exactly 1..200', async () => {
        const bump = (current: { n: number } | undefined): { n: number } => ({ n: (current?.n ?? 0) + 1 })
        const answers = await Promise.all([
          ...Array.from({ length: 100 }, () => a.shared.update('u', bump)),
          ...Array.from({ length: 100 }, () => b.shared.update('u', bump))
        ])
        expect(answers.map((answer) => answer.n).sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
      })

      test('update gives up with CONFLICT when another writer always wins', async () => {
        await a.shared.set('contended', 0)
        const result = await settle(a.shared.update<number>('contended', async (current) => {
          await b.shared.set('contended', (current ?? 0) + 100)
          return (current ?? 0) + 1
        }, { retries: 2 }))
        expect(result.code).toBe('FST_SHARED_STATE_CONFLICT')
      })

      test('update refuses a retries option that is not a whole number from 0', async () => {
        for (const retries of [-1, 1.5, '3']) {
          const result = await settle(a.shared.update('any', () => 1, { retries: retries as number }))
          expect(result.code).toBe('FST_SHARED_STATE_OPTIONS')
        }
      })
    })

    describe('path operations', () => {
      test('setIn edits one array element in place', async () => {
        await a.shared.set('array', [1, 2, 3])
        await a.shared.setIn(['array', 1], 0)
        expect(await b.shared.get('array')).toEqual([1, 0, 3])
      })

      test('getIn, setIn with missing intermediates, deleteIn', async () => {
        await a.shared.setIn(['cfg', 'db', 'host'], 'localhost')
        expect(await b.shared.get('cfg')).toEqual({ db: { host: 'localhost' } })
        expect(await b.shared.getIn(['cfg', 'db', 'host'])).toBe('localhost')
        expect(await b.shared.getIn(['cfg', 'nothing', 'here'])).toBeUndefined()
        expect(await b.shared.deleteIn(['cfg', 'db', 'host'])).toBe(true)
        expect(await b.shared.deleteIn(['cfg', 'db', 'host'])).toBe(false)
        expect(await a.shared.get('cfg')).toEqual({ db: {} })
      })

      test('incrIn and push keep sibling fields intact', async () => {
        await a.shared.set('stats', { hits: 0, name: 'route', tags: ['a'] })
        const answers = await Promise.all([
          ...Array.from({ length: 50 }, () => a.shared.incrIn(['stats', 'hits'])),
          ...Array.from({ length: 50 }, () => b.shared.incrIn(['stats', 'hits']))
        ])
        expect(answers.sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
        expect(await b.shared.push(['stats', 'tags'], 'b', 'c')).toBe(3)
        expect(await a.shared.get('stats')).toEqual({ hits: 100, name: 'route', tags: ['a', 'b', 'c'] })
      })

      test('push creates a missing array and values keep their types inside it', async () => {
        expect(await a.shared.push(['log'], new Date(5), 2n)).toBe(2)
        const log = await b.shared.get<unknown[]>('log')
        expect(log?.[0]).toBeInstanceOf(Date)
        expect(log?.[1]).toBe(2n)
      })

      test('a type clash rejects with BAD_PATH naming the segment', async () => {
        await a.shared.set('num', 5)
        const error = await b.shared.setIn(['num', 'x'], 1).catch((e: Error & { code: string }) => e)
        expect((error as { code: string }).code).toBe('FST_SHARED_STATE_BAD_PATH')
        expect((await settle(b.shared.push(['num'], 1))).code).toBe('FST_SHARED_STATE_BAD_PATH')
        await a.shared.set('obj', { s: 'text' })
        expect((await settle(b.shared.incrIn(['obj', 's']))).code).toBe('FST_SHARED_STATE_NOT_A_NUMBER')
      })

      test('forbidden segments are refused and no prototype is polluted', async () => {
        for (const segment of ['__proto__', 'constructor', 'prototype']) {
          expect((await settle(a.shared.setIn(['obj', segment, 'polluted'], true))).code).toBe('FST_SHARED_STATE_BAD_PATH')
          expect((await settle(b.shared.incrIn(['obj', segment]))).code).toBe('FST_SHARED_STATE_BAD_PATH')
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined()
        expect(Object.prototype).not.toHaveProperty('polluted')
      })
    })

    describe('expiry', () => {
      test('a key with a ttl disappears for every worker', async () => {
        // Long enough that a slow machine still reads it before it goes; then cut short.
        await a.shared.set('short', 1, { ttl: 60000 })
        expect(await b.shared.get('short')).toBe(1)
        const left = await b.shared.ttl('short')
        expect(left).toBeGreaterThan(0)
        expect(left).toBeLessThanOrEqual(60000)
        expect(await b.shared.expire('short', 50)).toBe(true)
        await waitUntil(async () => !(await b.shared.has('short')))
        expect(await a.shared.get('short')).toBeUndefined()
        expect(await a.shared.ttl('short')).toBe(-2)
      })

      test('expire sets a ttl on an existing key; ttl is -1 without one', async () => {
        await a.shared.set('k', 1)
        expect(await b.shared.ttl('k')).toBe(-1)
        expect(await b.shared.expire('k', 60000)).toBe(true)
        expect(await a.shared.ttl('k')).toBeGreaterThan(50000)
        expect(await a.shared.expire('absent', 1000)).toBe(false)
        expect(await a.shared.expire('k', 0)).toBe(true)
        expect(await a.shared.ttl('k')).toBe(-1)
      })

      test('setIfAbsent takes a ttl; after expiry the key can be set again', async () => {
        expect(await a.shared.setIfAbsent('lease', 'a', { ttl: 60000 })).toBe(true)
        expect(await b.shared.ttl('lease')).toBeGreaterThan(0)
        expect(await b.shared.setIfAbsent('lease', 'b', { ttl: 60000 })).toBe(false)
        expect(await a.shared.get('lease')).toBe('a')
        await a.shared.expire('lease', 50)
        await waitUntil(async () => await b.shared.setIfAbsent('lease', 'b'))
        expect(await a.shared.get('lease')).toBe('b')
      })
    })

    describe('watch', () => {
      test('a watcher sees another worker\'s changes in the order applied', async () => {
        const events: unknown[] = []
        const stop = await a.shared.watch('w:', (event) => events.push(event))
        await b.shared.set('w:1', 'one')
        await b.shared.set('w:1', 'two')
        await b.shared.set('elsewhere', 1)
        await b.shared.delete('w:1')
        await waitUntil(async () => events.length >= 3)
        expect(events).toEqual([
          { type: 'set', key: 'w:1', value: 'one' },
          { type: 'set', key: 'w:1', value: 'two' },
          { type: 'delete', key: 'w:1' }
        ])
        await stop()
        await b.shared.set('w:2', 'after')
        await b.shared.get('w:2')
        expect(events).toHaveLength(3)
      })
    })

    describe('locks', () => {
      test('acquire, isLocked, release; tokens increase with every grant', async () => {
        const lock = a.shared.lock('contract')
        const first = await lock.acquire()
        expect(await b.shared.lock('contract').isLocked()).toBe(true)
        await first.release()
        expect(await lock.isLocked()).toBe(false)
        const second = await b.shared.lock('contract').acquire()
        expect(second.token).toBeGreaterThan(first.token)
        await second.release()
      })

      test('sharedLock is the default lock of app.shared', async () => {
        const handle = await a.sharedLock.acquire()
        expect(await b.shared.lock('default').isLocked()).toBe(true)
        await handle.release()
      })

      test('waiters are served first come, first served, across workers and within one', async () => {
        const order: string[] = []
        const holder = await a.sharedLock.acquire()
        const waits = [
          b.sharedLock.withLock(async () => { order.push('b1') }),
          a.sharedLock.withLock(async () => { order.push('a1') }),
          b.sharedLock.withLock(async () => { order.push('b2') })
        ]
        await waitUntil(async () => true)
        await holder.release()
        await Promise.all(waits)
        expect(order).toHaveLength(3)
        expect(new Set(order)).toEqual(new Set(['b1', 'a1', 'b2']))
        expect(order.indexOf('b1')).toBeLessThan(order.indexOf('b2'))
      })

      test('a waiter times out with LOCK_TIMEOUT and leaves the queue', async () => {
        const holder = await a.sharedLock.acquire()
        expect((await settle(b.sharedLock.acquire({ timeout: 50 }))).code).toBe('FST_SHARED_STATE_LOCK_TIMEOUT')
        await holder.release()
        const next = await b.sharedLock.acquire({ timeout: 1000 })
        await next.release()
      })

      test('releasing twice rejects with LOCK_NOT_HELD', async () => {
        const handle = await a.sharedLock.acquire()
        await handle.release()
        expect((await settle(handle.release())).code).toBe('FST_SHARED_STATE_LOCK_NOT_HELD')
      })

      test('a holder past its ttl loses the lock; its release is refused and the next holder keeps it', async () => {
        const stale = await a.sharedLock.acquire({ ttl: 50 })
        const next = await b.sharedLock.acquire({ timeout: 5000 })
        expect(next.token).toBeGreaterThan(stale.token)
        expect((await settle(stale.release())).code).toBe('FST_SHARED_STATE_LOCK_NOT_HELD')
        expect(await a.sharedLock.isLocked()).toBe(true)
        await next.release()
      })

      test('read: the grant carries the listed values; set on the handle lands with the release', async () => {
        await a.shared.set('lr:n', 41)
        const result = await b.sharedLock.withLock(async (lock) => {
          const n = (lock.get<number>('lr:n') ?? 0) + 1
          lock.set('lr:n', n)
          lock.set('lr:new', { n }, { ttl: 60000 })
          expect(lock.get('lr:n')).toBe(42)
          expect(lock.get('lr:absent')).toBeUndefined()
          return n
        }, { read: ['lr:n', 'lr:absent'] })
        expect(result).toBe(42)
        expect(await a.shared.get('lr:n')).toBe(42)
        expect(await a.shared.get('lr:new')).toEqual({ n: 42 })
        expect(await a.shared.ttl('lr:new')).toBeGreaterThan(0)
        const handle = await a.sharedLock.acquire()
        expect(() => handle.get('lr:n')).toThrow(/read/)
        await handle.release()
        expect(() => handle.set('lr:n', 0)).toThrow(expect.objectContaining({ code: 'FST_SHARED_STATE_LOCK_NOT_HELD' }))
      })

      test('read and set: concurrent sections from two workers count exactly', async () => {
        await a.shared.set('lr:count', 0)
        const section = (app: typeof a) => app.sharedLock.withLock((lock) => {
          lock.set('lr:count', (lock.get<number>('lr:count') ?? 0) + 1)
        }, { read: ['lr:count'] })
        await Promise.all(Array.from({ length: 20 }, (_, i) => section(i % 2 === 0 ? a : b)))
        expect(await b.shared.get('lr:count')).toBe(20)
      })

      test('a section that throws writes nothing of what it set', async () => {
        await a.shared.set('lr:kept', 'before')
        await expect(a.sharedLock.withLock((lock) => {
          lock.set('lr:kept', 'after')
          throw new Error('inside')
        }, { read: ['lr:kept'] })).rejects.toThrow('inside')
        expect(await b.shared.get('lr:kept')).toBe('before')
        expect(await b.sharedLock.isLocked()).toBe(false)
      })

      test('withLock releases when the function throws, and its error wins', async () => {
        await expect(a.sharedLock.withLock(async () => { throw new Error('inside') })).rejects.toThrow('inside')
        expect(await b.sharedLock.isLocked()).toBe(false)
      })
    })
  })
}

/** Polls `predicate` until it holds (no fixed sleeps); fails the test after 5 s. */
export async function waitUntil (predicate: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not reached within 5 s')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

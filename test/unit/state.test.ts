import { MemoryState } from '../../lib/store/memory/state'
import { ValueCodec } from '../../lib/protocol/codec'
import type { ChangeEvent, Encoded } from '../../lib/store/store'
import { SharedStateBadPathError, SharedStateNotANumberError } from '../../lib/errors'
import { thrown } from '../helpers/thrown'

// Pure logic: TTLs and the sweep run on jest's fake clock (Date included).

const T0 = 1_700_000_000_000
const DAY = 24 * 60 * 60 * 1000

const codec = new ValueCodec()
const enc = (value: unknown): Encoded => codec.encode(value)
const dec = (raw: Encoded | undefined): unknown => raw === undefined ? undefined : codec.decode(raw)

/** A watcher's events with their values decoded, for readable comparisons. */
function record (state: MemoryState, prefix: string): Array<{ type: string, key: string, value?: unknown }> {
  const events: Array<{ type: string, key: string, value?: unknown }> = []
  state.watch(prefix, (event: ChangeEvent) => {
    events.push(event.value === undefined ? { type: event.type, key: event.key } : { type: event.type, key: event.key, value: dec(event.value) })
  })
  return events
}

let state: MemoryState

beforeEach(() => {
  jest.useFakeTimers({ now: T0 })
  state = new MemoryState(codec)
})

afterEach(() => {
  state.close()
  jest.useRealTimers()
})

describe('map operations', () => {
  test('get of an absent key is undefined; set then get gives the value back', () => {
    expect(state.get('k')).toBeUndefined()
    state.set('k', enc({ a: [1, 2] }), 0)
    expect(dec(state.get('k'))).toStrictEqual({ a: [1, 2] })
    state.set('k', enc('replaced'), 0)
    expect(dec(state.get('k'))).toBe('replaced')
  })

  test('setIfAbsent sets only where the key is absent', () => {
    expect(state.setIfAbsent('k', enc(1), 0)).toBe(true)
    expect(state.setIfAbsent('k', enc(2), 0)).toBe(false)
    expect(dec(state.get('k'))).toBe(1)
  })

  test('has and delete', () => {
    expect(state.has('k')).toBe(false)
    expect(state.delete('k')).toBe(false)
    state.set('k', enc(null), 0)
    expect(state.has('k')).toBe(true)
    expect(state.delete('k')).toBe(true)
    expect(state.has('k')).toBe(false)
    expect(state.delete('k')).toBe(false)
  })

  test('keys and entries, all or by prefix, in key order, and size', () => {
    state.set('user:2', enc('bob'), 0)
    state.set('user:1', enc('ann'), 0)
    state.set('order:1', enc(99), 0)
    expect(state.keys('')).toEqual(['order:1', 'user:1', 'user:2'])
    expect(state.keys('user:')).toEqual(['user:1', 'user:2'])
    expect(state.keys('none')).toEqual([])
    expect(state.entries('user:').map(([key, raw]) => [key, dec(raw)])).toEqual([['user:1', 'ann'], ['user:2', 'bob']])
    expect(state.entries('').map(([key]) => key)).toEqual(['order:1', 'user:1', 'user:2'])
    expect(state.size).toBe(3)
  })

  test('clear removes every key', () => {
    state.set('a', enc(1), 0)
    state.set('b', enc(2), 1000)
    state.clear()
    expect(state.size).toBe(0)
    expect(state.get('a')).toBeUndefined()
    expect(state.keys('')).toEqual([])
    expect(state.ttl('b')).toBe(-2)
  })

  test('incr: a missing key counts as 0; then adds; the stored value is the number', () => {
    expect(state.incr('n', 1)).toBe(1)
    expect(state.incr('n', 5)).toBe(6)
    expect(state.incr('n', -2.5)).toBe(3.5)
    expect(dec(state.get('n'))).toBe(3.5)
    state.set('m', enc(10), 0)
    expect(state.incr('m', 1)).toBe(11)
  })

  test.each([
    ['a string', '5'],
    ['null', null],
    ['an object', { n: 1 }],
    ['a bigint', 5n]
  ])('incr of %s rejects with NOT_A_NUMBER naming the key, and changes nothing', (_name, value) => {
    state.set('k', enc(value), 0)
    const [, version] = state.getVersioned('k')
    const error = thrown(() => state.incr('k', 1))
    expect(error).toBeInstanceOf(SharedStateNotANumberError)
    expect(error.code).toBe('FST_SHARED_STATE_NOT_A_NUMBER')
    expect(error.message).toBe('Value at "k" is not a number')
    expect(dec(state.get('k'))).toStrictEqual(value)
    expect(state.getVersioned('k')[1]).toBe(version)
  })
})

describe('versions', () => {
  test('an absent key is at version 0; every write moves the version up', () => {
    expect(state.getVersioned('k')).toEqual([undefined, 0])
    state.set('k', enc('a'), 0)
    const [raw1, v1] = state.getVersioned('k')
    expect(dec(raw1)).toBe('a')
    expect(v1).toBeGreaterThan(0)
    state.set('k', enc('a'), 0)
    const v2 = state.getVersioned('k')[1]
    expect(v2).toBeGreaterThan(v1)
    state.incr('n', 1)
    state.incr('n', 1)
    expect(state.getVersioned('n')[1]).toBeGreaterThan(v2)
  })

  test('edits inside a value move its version too', () => {
    state.set('doc', enc({ list: [1], n: 0 }), 0)
    const versions = [state.getVersioned('doc')[1]]
    state.setIn(['doc', 'x'], enc(1))
    versions.push(state.getVersioned('doc')[1])
    state.incrIn(['doc', 'n'], 1)
    versions.push(state.getVersioned('doc')[1])
    state.push(['doc', 'list'], [enc(2)])
    versions.push(state.getVersioned('doc')[1])
    state.deleteIn(['doc', 'x'])
    versions.push(state.getVersioned('doc')[1])
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1] as number)
  })

  test('reads do not move the version', () => {
    state.set('k', enc({ a: 1 }), 0)
    const version = state.getVersioned('k')[1]
    state.get('k')
    state.getIn(['k', 'a'])
    state.has('k')
    state.keys('')
    expect(state.getVersioned('k')[1]).toBe(version)
  })

  test('setIfVersion writes only at the current version', () => {
    state.set('k', enc('first'), 0)
    const [, stale] = state.getVersioned('k')
    state.set('k', enc('second'), 0)
    const [, current] = state.getVersioned('k')
    expect(state.setIfVersion('k', enc('lost update'), stale)).toBe(false)
    expect(dec(state.get('k'))).toBe('second')
    expect(state.setIfVersion('k', enc('third'), current)).toBe(true)
    expect(dec(state.get('k'))).toBe('third')
    expect(state.getVersioned('k')[1]).toBeGreaterThan(current)
  })

  test('setIfVersion with version 0 creates an absent key and refuses an existing one', () => {
    expect(state.setIfVersion('k', enc(1), 0)).toBe(true)
    expect(state.setIfVersion('k', enc(2), 0)).toBe(false)
    expect(dec(state.get('k'))).toBe(1)
  })

  test('a key deleted and set again does not match the version read before', () => {
    state.set('k', enc(1), 0)
    const [, before] = state.getVersioned('k')
    state.delete('k')
    expect(state.getVersioned('k')).toEqual([undefined, 0])
    state.set('k', enc(1), 0)
    expect(state.setIfVersion('k', enc(2), before)).toBe(false)
  })

  test('compareAndSet compares encoded bytes', () => {
    expect(state.compareAndSet('k', enc('x'), enc('never'))).toBe(false)
    expect(state.has('k')).toBe(false)
    expect(state.compareAndSet('k', null, enc({ a: 1, b: 2 }))).toBe(true)
    expect(state.compareAndSet('k', null, enc('again'))).toBe(false)
    expect(state.compareAndSet('k', enc({ a: 1, b: 3 }), enc('no'))).toBe(false)
    // Same content, other key order: other bytes.
    expect(state.compareAndSet('k', enc({ b: 2, a: 1 }), enc('no'))).toBe(false)
    expect(dec(state.get('k'))).toStrictEqual({ a: 1, b: 2 })
    expect(state.compareAndSet('k', enc({ a: 1, b: 2 }), enc('next'))).toBe(true)
    expect(dec(state.get('k'))).toBe('next')
  })

  test('compareAndSet sees a value changed in place (re-encoded after an edit)', () => {
    state.set('k', enc([1, 2, 3]), 0)
    state.setIn(['k', 1], enc(0))
    expect(state.compareAndSet('k', enc([1, 2, 3]), enc('no'))).toBe(false)
    expect(state.compareAndSet('k', enc([1, 0, 3]), enc('yes'))).toBe(true)
  })
})

describe('path operations', () => {
  test('setIn([\'array\', 1], 0) on [1, 2, 3] edits one element in place', () => {
    state.set('array', enc([1, 2, 3]), 0)
    state.setIn(['array', 1], enc(0))
    expect(dec(state.get('array'))).toStrictEqual([1, 0, 3])
  })

  test('getIn returns the encoded value at the path, or undefined', () => {
    state.set('doc', enc({ a: { b: [10, new Map([['m', 5n]])] } }), 0)
    expect(dec(state.getIn(['doc', 'a', 'b', 0]))).toBe(10)
    expect(dec(state.getIn(['doc', 'a', 'b', 1, 'm']))).toBe(5n)
    expect(dec(state.getIn(['doc']))).toStrictEqual({ a: { b: [10, new Map([['m', 5n]])] } })
    expect(state.getIn(['doc', 'missing'])).toBeUndefined()
    expect(state.getIn(['absent', 'x'])).toBeUndefined()
  })

  test('what getIn returns is a copy: changing it changes nothing stored', () => {
    state.set('doc', enc({ list: [1, 2] }), 0)
    const list = dec(state.getIn(['doc', 'list'])) as number[]
    list.push(3)
    expect(dec(state.get('doc'))).toStrictEqual({ list: [1, 2] })
  })

  test('setIn on an absent key creates it; missing intermediates become objects', () => {
    state.setIn(['doc', 'a', 'b'], enc(1))
    expect(dec(state.get('doc'))).toStrictEqual({ a: { b: 1 } })
    state.setIn(['doc', 'a', 'c'], enc(new Set([1])))
    expect(dec(state.get('doc'))).toStrictEqual({ a: { b: 1, c: new Set([1]) } })
  })

  test('setIn with a path of length 1 sets the key', () => {
    state.setIn(['k'], enc('whole'))
    expect(dec(state.get('k'))).toBe('whole')
  })

  test('deleteIn removes inside a value, or the key for a path of length 1', () => {
    state.set('doc', enc({ a: 1, list: [1, 2, 3] }), 0)
    expect(state.deleteIn(['doc', 'a'])).toBe(true)
    expect(state.deleteIn(['doc', 'a'])).toBe(false)
    expect(state.deleteIn(['doc', 'list', 0])).toBe(true)
    expect(dec(state.get('doc'))).toStrictEqual({ list: [2, 3] })
    expect(state.deleteIn(['absent', 'x'])).toBe(false)
    expect(state.deleteIn(['doc'])).toBe(true)
    expect(state.has('doc')).toBe(false)
  })

  test('incrIn: a nested counter, created when missing', () => {
    expect(state.incrIn(['stats', 'hits', 'home'], 1)).toBe(1)
    expect(state.incrIn(['stats', 'hits', 'home'], 2)).toBe(3)
    expect(state.incrIn(['plain'], 4)).toBe(4)
    expect(dec(state.get('stats'))).toStrictEqual({ hits: { home: 3 } })
    expect(dec(state.get('plain'))).toBe(4)
  })

  test('incrIn on a non-number rejects with NOT_A_NUMBER naming the path', () => {
    state.set('doc', enc({ name: 'x' }), 0)
    const error = thrown(() => state.incrIn(['doc', 'name'], 1))
    expect(error).toBeInstanceOf(SharedStateNotANumberError)
    expect(error.message).toBe('Value at "doc"."name" is not a number')
    expect(dec(state.get('doc'))).toStrictEqual({ name: 'x' })
  })

  test('push appends decoded items and returns the new length; a missing array is created', () => {
    expect(state.push(['doc', 'list'], [enc(1), enc({ two: 2 })])).toBe(2)
    expect(state.push(['doc', 'list'], [enc(new Date(3))])).toBe(3)
    expect(dec(state.get('doc'))).toStrictEqual({ list: [1, { two: 2 }, new Date(3)] })
    expect(state.push(['list'], [enc('a')])).toBe(1)
    expect(state.push(['list'], [enc('b')])).toBe(2)
    expect(dec(state.get('list'))).toStrictEqual(['a', 'b'])
  })

  test('a bad path rejects with BAD_PATH and leaves the value as it was', () => {
    state.set('doc', enc({ n: 5, list: [1] }), 0)
    const [, version] = state.getVersioned('doc')
    expect(thrown(() => state.setIn(['doc', 'n', 'x'], enc(1)))).toBeInstanceOf(SharedStateBadPathError)
    expect(thrown(() => state.setIn(['doc', 'list', 5], enc(1)))).toBeInstanceOf(SharedStateBadPathError)
    expect(thrown(() => state.push(['doc', 'n'], [enc(1)]))).toBeInstanceOf(SharedStateBadPathError)
    expect(thrown(() => state.getIn(['doc', 'n', 'x']))).toBeInstanceOf(SharedStateBadPathError)
    expect(dec(state.get('doc'))).toStrictEqual({ n: 5, list: [1] })
    expect(state.getVersioned('doc')[1]).toBe(version)
  })

  test('an item decoded into the live value does not change when the sender\'s bytes do', () => {
    const item = enc(new Uint8Array([1, 2, 3]))
    state.push(['doc', 'list'], [item])
    item.fill(0)
    expect(dec(state.get('doc'))).toStrictEqual({ list: [new Uint8Array([1, 2, 3])] })
  })
})

describe('TTL', () => {
  test('ttl(): -2 for an absent key, -1 for no expiry, else ms left', () => {
    expect(state.ttl('absent')).toBe(-2)
    state.set('forever', enc(1), 0)
    expect(state.ttl('forever')).toBe(-1)
    state.set('short', enc(1), 1000)
    expect(state.ttl('short')).toBe(1000)
    jest.advanceTimersByTime(400)
    expect(state.ttl('short')).toBe(600)
  })

  test('an expired key is invisible at once, before any sweep runs', () => {
    for (const key of ['get', 'has', 'ttl', 'versioned', 'absent', 'incr', 'getIn', 'cas']) {
      state.set(key, enc(7), 100)
    }
    // Move the clock without running timers: only the deadline can hide the keys.
    jest.setSystemTime(T0 + 99)
    expect(state.keys('')).toHaveLength(8)
    jest.setSystemTime(T0 + 100)
    expect(state.keys('')).toEqual([])
    expect(state.entries('')).toEqual([])
    expect(state.get('get')).toBeUndefined()
    expect(state.has('has')).toBe(false)
    expect(state.ttl('ttl')).toBe(-2)
    expect(state.getVersioned('versioned')).toEqual([undefined, 0])
    expect(state.setIfAbsent('absent', enc('new'), 0)).toBe(true)
    expect(state.incr('incr', 1)).toBe(1)
    expect(state.getIn(['getIn', 'x'])).toBeUndefined()
    expect(state.compareAndSet('cas', enc(7), enc(8))).toBe(false)
    expect(state.size).toBe(2)
  })

  test('expire(): false for an absent key; sets a ttl; 0 removes it', () => {
    expect(state.expire('absent', 100)).toBe(false)
    state.set('k', enc(1), 0)
    expect(state.expire('k', 500)).toBe(true)
    expect(state.ttl('k')).toBe(500)
    jest.advanceTimersByTime(500)
    expect(state.has('k')).toBe(false)

    state.set('kept', enc(1), 200)
    expect(state.expire('kept', 0)).toBe(true)
    expect(state.ttl('kept')).toBe(-1)
    jest.advanceTimersByTime(1000)
    expect(state.has('kept')).toBe(true)
  })

  test('expire() can shorten a ttl', () => {
    state.set('k', enc(1), 10_000)
    state.expire('k', 100)
    jest.advanceTimersByTime(100)
    expect(state.has('k')).toBe(false)
  })

  test('set without a ttl clears the old one; the key outlives its old deadline', () => {
    const events = record(state, '')
    state.set('k', enc(1), 100)
    state.set('k', enc(2), 0)
    expect(state.ttl('k')).toBe(-1)
    jest.advanceTimersByTime(1000)
    expect(dec(state.get('k'))).toBe(2)
    expect(events.filter((event) => event.type === 'expire')).toEqual([])
  })

  test('a key set again with a longer ttl lives until the new deadline', () => {
    state.set('k', enc(1), 100)
    state.set('k', enc(2), 1000)
    jest.advanceTimersByTime(999)
    expect(dec(state.get('k'))).toBe(2)
    jest.advanceTimersByTime(1)
    expect(state.has('k')).toBe(false)
  })

  test('incr and path edits keep the key\'s ttl', () => {
    state.set('n', enc(1), 1000)
    state.set('doc', enc({}), 1000)
    jest.advanceTimersByTime(300)
    state.incr('n', 1)
    state.setIn(['doc', 'a'], enc(1))
    expect(state.ttl('n')).toBe(700)
    expect(state.ttl('doc')).toBe(700)
    jest.advanceTimersByTime(700)
    expect(state.has('n')).toBe(false)
    expect(state.has('doc')).toBe(false)
  })

  test('the sweep reclaims expired keys without anyone reading them', () => {
    const events = record(state, '')
    state.set('a', enc(1), 100)
    state.set('b', enc(2), 300)
    events.length = 0
    jest.advanceTimersByTime(100)
    expect(events).toEqual([{ type: 'expire', key: 'a' }])
    jest.advanceTimersByTime(200)
    expect(events).toEqual([{ type: 'expire', key: 'a' }, { type: 'expire', key: 'b' }])
    expect(jest.getTimerCount()).toBe(0)
  })

  test('the sweep reclaims many keys in slices, each slice its own timer turn', () => {
    const COUNT = 2500
    const expired: string[] = []
    state.watch('', (event) => { if (event.type === 'expire') expired.push(event.key) })
    for (let i = 0; i < COUNT; i++) state.set(`k${i}`, enc(i), 100)
    state.set('survivor', enc('stays'), 0)

    jest.advanceTimersByTime(99)
    expect(expired).toEqual([])

    jest.advanceTimersToNextTimer()
    const firstSlice = expired.length
    expect(firstSlice).toBeGreaterThan(0)
    expect(firstSlice).toBeLessThan(COUNT)
    // What is left waits for another timer turn, so I/O runs in between.
    expect(jest.getTimerCount()).toBe(1)

    let turns = 1
    while (jest.getTimerCount() > 0 && turns < 100) {
      jest.advanceTimersToNextTimer()
      turns++
    }
    expect(turns).toBeGreaterThan(1)
    expect(expired).toHaveLength(COUNT)
    expect(new Set(expired).size).toBe(COUNT)
    expect(state.keys('')).toEqual(['survivor'])
    expect(state.size).toBe(1)
  })

  test('a key read after its deadline expires once, not again when the sweep runs', () => {
    const events = record(state, '')
    state.set('k', enc(1), 100)
    jest.setSystemTime(T0 + 150)
    expect(state.get('k')).toBeUndefined()
    jest.runOnlyPendingTimers()
    expect(events).toEqual([{ type: 'set', key: 'k', value: 1 }, { type: 'expire', key: 'k' }])
  })

  test('a ttl longer than setTimeout\'s 24.8-day maximum does not make the sweep spin', () => {
    state.set('session', enc('token'), 30 * DAY)
    const armed = jest.spyOn(globalThis, 'setTimeout')
    try {
      jest.advanceTimersByTime(10_000)
      // At most one re-arm in ten seconds; a timer clamped to 1 ms fires thousands of times.
      expect(armed.mock.calls.length).toBeLessThanOrEqual(1)
    } finally {
      armed.mockRestore()
    }
    expect(state.ttl('session')).toBe(30 * DAY - 10_000)
  })

  test('keys with a ttl far in the future expire at their deadline', () => {
    state.set('session', enc('token'), 30 * DAY)
    jest.setSystemTime(T0 + 30 * DAY - 1)
    expect(state.has('session')).toBe(true)
    jest.setSystemTime(T0 + 30 * DAY)
    expect(state.has('session')).toBe(false)
  })
})

describe('watch', () => {
  test('events arrive in the order applied: set, set, delete, expire, clear, with prefix filtering', () => {
    const users = record(state, 'user:')
    const all = record(state, '')

    state.set('user:1', enc('ann'), 0)
    state.set('user:1', enc('ann b.'), 0)
    state.set('order:1', enc(99), 0)
    state.delete('user:1')
    state.set('user:2', enc('bob'), 50)
    jest.advanceTimersByTime(50)
    state.clear()

    expect(users).toEqual([
      { type: 'set', key: 'user:1', value: 'ann' },
      { type: 'set', key: 'user:1', value: 'ann b.' },
      { type: 'delete', key: 'user:1' },
      { type: 'set', key: 'user:2', value: 'bob' },
      { type: 'expire', key: 'user:2' },
      { type: 'clear', key: '' }
    ])
    expect(all).toEqual([
      { type: 'set', key: 'user:1', value: 'ann' },
      { type: 'set', key: 'user:1', value: 'ann b.' },
      { type: 'set', key: 'order:1', value: 99 },
      { type: 'delete', key: 'user:1' },
      { type: 'set', key: 'user:2', value: 'bob' },
      { type: 'expire', key: 'user:2' },
      { type: 'clear', key: '' }
    ])
  })

  test('incr, setIn, push and deleteIn are set events carrying the new value', () => {
    const events = record(state, '')
    state.incr('n', 2)
    state.setIn(['doc', 'a'], enc(1))
    state.push(['doc', 'list'], [enc('x')])
    state.deleteIn(['doc', 'a'])
    expect(events).toEqual([
      { type: 'set', key: 'n', value: 2 },
      { type: 'set', key: 'doc', value: { a: 1 } },
      { type: 'set', key: 'doc', value: { a: 1, list: ['x'] } },
      { type: 'set', key: 'doc', value: { list: ['x'] } }
    ])
  })

  test('failed writes emit nothing', () => {
    state.set('k', enc('text'), 0)
    const events = record(state, '')
    expect(state.setIfAbsent('k', enc(1), 0)).toBe(false)
    expect(state.compareAndSet('k', enc('other'), enc(1))).toBe(false)
    expect(state.setIfVersion('k', enc(1), 12345)).toBe(false)
    expect(state.delete('absent')).toBe(false)
    expect(() => state.incr('k', 1)).toThrow(SharedStateNotANumberError)
    expect(events).toEqual([])
  })

  test('unsubscribing stops the events', () => {
    const events: ChangeEvent[] = []
    const stop = state.watch('', (event) => events.push(event))
    state.set('a', enc(1), 0)
    stop()
    state.set('b', enc(2), 0)
    expect(events.map((event) => event.key)).toEqual(['a'])
  })
})

describe('snapshot and restore', () => {
  test('a new state restored from a snapshot has the same values and deadlines, versions above the old clock', () => {
    state.set('plain', enc({ a: [1, 2] }), 0)
    state.set('ttl', enc('soon'), 1000)
    state.set('gone', enc('x'), 10)
    state.incr('n', 5)
    state.setIn(['plain', 'b'], enc(new Map([[1, 'one']])))
    jest.setSystemTime(T0 + 100)

    const snapshot = state.snapshot()
    expect(snapshot.entries.map(([key, raw, expiresAt]) => [key, dec(raw), expiresAt])).toEqual([
      ['n', 5, 0],
      ['plain', { a: [1, 2], b: new Map([[1, 'one']]) }, 0],
      ['ttl', 'soon', T0 + 1000]
    ])

    const next = new MemoryState(codec)
    try {
      next.restore(snapshot)
      expect(next.keys('')).toEqual(['n', 'plain', 'ttl'])
      expect(dec(next.get('plain'))).toStrictEqual({ a: [1, 2], b: new Map([[1, 'one']]) })
      expect(next.ttl('ttl')).toBe(900)
      expect(next.ttl('plain')).toBe(-1)
      for (const key of ['plain', 'ttl', 'n']) expect(next.getVersioned(key)[1]).toBeGreaterThan(snapshot.clock)
      expect(next.incr('n', 1)).toBe(6)
      jest.advanceTimersByTime(900)
      expect(next.has('ttl')).toBe(false)
    } finally {
      next.close()
    }
  })

  test('a version read on the old state never matches on the restored one', () => {
    state.set('k', enc(1), 0)
    const [, version] = state.getVersioned('k')
    const next = new MemoryState(codec)
    try {
      next.restore(state.snapshot())
      expect(next.setIfVersion('k', enc(2), version)).toBe(false)
    } finally {
      next.close()
    }
  })

  test('an entry whose deadline passed before the restore is invisible', () => {
    state.set('k', enc(1), 100)
    const snapshot = state.snapshot()
    jest.setSystemTime(T0 + 100)
    const next = new MemoryState(codec)
    try {
      next.restore(snapshot)
      expect(next.has('k')).toBe(false)
      expect(next.keys('')).toEqual([])
    } finally {
      next.close()
    }
  })
})

describe('close', () => {
  test('close stops the sweep timer and the watchers', () => {
    const events: ChangeEvent[] = []
    state.watch('', (event) => events.push(event))
    state.set('k', enc(1), 100)
    expect(jest.getTimerCount()).toBe(1)
    state.close()
    expect(jest.getTimerCount()).toBe(0)
    state.set('later', enc(1), 0)
    expect(events.map((event) => event.type)).toEqual(['set'])
  })
})

describe('pages', () => {
  /** Every page of a walk of keys with `prefix`, `count` at a time, with `between` run after each. */
  function walk (prefix: string, count: number, between: (page: number) => void = () => {}): string[][] {
    const pages: string[][] = []
    let cursor = ''
    do {
      const page = state.keysPage(prefix, cursor, count)
      pages.push(page.items)
      cursor = page.cursor
      between(pages.length)
    } while (cursor !== '')
    return pages
  }

  test('pages of `count` keys of a prefix, in order, then an empty cursor', () => {
    for (let i = 0; i < 25; i++) state.set(`a:${String(i).padStart(2, '0')}`, enc(i), 0)
    state.set('b:1', enc(1), 0)
    const pages = walk('a:', 10)
    expect(pages.map((page) => page.length)).toEqual([10, 10, 5])
    expect(pages.flat()).toEqual(state.keys('a:'))
  })

  test('a key present for the whole walk is returned once; keys added or removed meanwhile do not disturb it', () => {
    for (let i = 0; i < 100; i++) state.set(`k:${String(i).padStart(3, '0')}`, enc(i), 0)
    const pages = walk('k:', 10, (page) => {
      // Remove keys on both sides of the cursor, add keys on both sides.
      state.delete(`k:${String(page * 10 - 5).padStart(3, '0')}`)
      state.delete(`k:${String(page * 10 + 5).padStart(3, '0')}`)
      state.set(`k:${String(page * 10 - 3).padStart(3, '0')}x`, enc(0), 0)
      state.set(`k:${String(page * 10 + 3).padStart(3, '0')}x`, enc(0), 0)
    })
    const seen = pages.flat()
    expect(new Set(seen).size).toBe(seen.length)
    for (let i = 0; i < 100; i++) {
      if (i % 10 !== 5) expect(seen).toContain(`k:${String(i).padStart(3, '0')}`)
    }
  })

  test('expired keys are skipped, and a page stops at its byte budget but holds at least one entry', () => {
    state.set('a', enc('x'.repeat(100)), 0)
    state.set('b', enc('y'.repeat(100)), 10)
    state.set('c', enc('z'.repeat(100)), 0)
    jest.setSystemTime(T0 + 20)
    const first = state.entriesPage('', '', 10, 50)
    expect(first.items.map(([key]) => key)).toEqual(['a'])
    const second = state.entriesPage('', first.cursor, 10, 50)
    expect(second.items.map(([key, raw]) => [key, dec(raw)])).toEqual([['c', 'z'.repeat(100)]])
    expect(second.cursor).toBe('')
  })

  test('describePage gives each key its encoded size and ms left', () => {
    state.set('n', enc(300), 0)
    state.set('s', enc('abc'), 1000)
    expect(state.describePage('', '', 10)).toEqual({ cursor: '', items: [['n', 3, -1], ['s', 4, 1000]] })
  })

  test('snapshotParts cuts the entries by bytes, and together they are the snapshot', () => {
    for (let i = 0; i < 50; i++) state.set(`p${i}`, enc('v'.repeat(50)), 0)
    const parts = [...state.snapshotParts(1000)]
    expect(parts.length).toBeGreaterThan(1)
    expect(parts.flat()).toEqual(state.snapshot().entries)
  })
})

describe('stored values', () => {
  test('every kind of value reads back as the bytes the codec makes of it', () => {
    const values = [0, 127, 128, -1, -32, -33, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -(2 ** 31), -(2 ** 31) - 1,
      1.5, Number.NaN, Number.MAX_SAFE_INTEGER, '', 'short', 'é'.repeat(10), 'x'.repeat(5000), true, null,
      [1, 2], { a: 1 }, new Uint8Array([1, 2, 3]), new Map([[1, 2]]), 10n]
    values.forEach((value, i) => state.set(`v${i}`, enc(value), 0))
    values.forEach((value, i) => {
      expect(Buffer.from(state.get(`v${i}`) as Encoded)).toEqual(Buffer.from(enc(value)))
      expect(dec(state.get(`v${i}`))).toStrictEqual(value)
    })
  })

  test('incr works on a number of any stored form', () => {
    state.set('small', enc(1), 0)
    state.set('big', enc(2 ** 40), 0)
    state.set('float', enc(0.5), 0)
    expect(state.incr('small', 1)).toBe(2)
    expect(state.incr('big', 1)).toBe(2 ** 40 + 1)
    expect(state.incr('float', 1)).toBe(1.5)
    expect(dec(state.get('big'))).toBe(2 ** 40 + 1)
  })
})

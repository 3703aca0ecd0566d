import { AppliedReplies, type Reply } from '../../lib/host/applied-replies'

const ok = (value: unknown): Reply => [0, value]

describe('AppliedReplies', () => {
  test('a remembered reply is found again by client and id, and only there', () => {
    const applied = new AppliedReplies()
    applied.remember('a', 5, ok(1))
    applied.remember('b', 5, ok(2))
    expect(applied.get('a', 5)).toEqual(ok(1))
    expect(applied.get('b', 5)).toEqual(ok(2))
    expect(applied.get('a', 6)).toBeUndefined()
    expect(applied.get('c', 5)).toBeUndefined()
  })

  test('an id below the newest is still looked up: a retry after a change of host', () => {
    const applied = new AppliedReplies()
    applied.remember('a', 10, ok('ten'))
    applied.remember('a', 30, ok('thirty'))
    // Restored out of order, as a handed-over or logged memory may be.
    applied.remember('a', 20, ok('twenty'))
    expect(applied.get('a', 20)).toEqual(ok('twenty'))
    expect(applied.get('a', 10)).toEqual(ok('ten'))
    expect(applied.get('a', 25)).toBeUndefined()
    expect(applied.get('a', 31)).toBeUndefined()
  })

  test('keeps the replies of the last window of ids per client, whatever their order', () => {
    const applied = new AppliedReplies(128)
    for (let id = 1; id <= 1000; id++) applied.remember('a', id, ok(id))
    const kept = applied.entries().map(([, id]) => id).sort((x, y) => x - y)
    expect(kept).toEqual(Array.from({ length: 128 }, (_, i) => 873 + i))
    expect(applied.get('a', 1000)).toEqual(ok(1000))
    expect(applied.get('a', 873)).toEqual(ok(873))
    expect(applied.get('a', 872)).toBeUndefined()
    // An old reply restored late does not push out the newer one that holds its slot.
    applied.remember('a', 1000 - 128, ok('old'))
    expect(applied.get('a', 1000)).toEqual(ok(1000))
    expect(applied.get('a', 1000 - 128)).toBeUndefined()
  })

  test('a settled id leaves the replies below it out of what is copied and listed, and never moves back', () => {
    const applied = new AppliedReplies(128)
    for (let id = 1; id <= 100; id++) applied.remember('a', id, ok(id))
    applied.remember('b', 7, ok('b7'))
    applied.settle('a', 90)
    // A late notice with an older mark changes nothing; one for a client with no replies is ignored.
    applied.settle('a', 50)
    applied.settle('nobody', 10)
    const listed = applied.entries().filter(([client]) => client === 'a').map(([, id]) => id).sort((x, y) => x - y)
    expect(listed).toEqual(Array.from({ length: 11 }, (_, i) => 90 + i))
    const slots = applied.slots().find((slot) => slot.clientId === 'a')
    expect([...(slots?.ids ?? [])].sort((x, y) => x - y)).toEqual(listed)
    expect(slots?.replies).toEqual([...(slots?.ids ?? [])].map((id) => ok(id)))
    // The other client keeps all, and a lookup below the mark still answers (nothing is freed).
    expect(applied.entries().filter(([client]) => client === 'b')).toEqual([['b', 7, ok('b7')]])
    expect(applied.get('a', 10)).toEqual(ok(10))
  })

  test('the window is a power of two', () => {
    expect(() => new AppliedReplies(100)).toThrow(RangeError)
  })

  test('forget drops a client that left, and entries lists what is kept', () => {
    const applied = new AppliedReplies()
    applied.remember('a', 1, ok(1))
    applied.remember('b', 2, [1, 'FST_SHARED_STATE_CONFLICT', 'lost the race'])
    applied.forget('a')
    expect(applied.get('a', 1)).toBeUndefined()
    expect(applied.entries()).toEqual([['b', 2, [1, 'FST_SHARED_STATE_CONFLICT', 'lost the race']]])
  })
})

describe('AppliedReplies memory', () => {
  test('a ring grows only as far as the ids it must keep apart, and keeps every one of them', () => {
    const applied = new AppliedReplies(1024)
    applied.remember('few', 3, ok(3))
    // Ids 1..1024 all inside the window: each must survive the ring's growth.
    for (let id = 1; id <= 1024; id++) applied.remember('many', id, ok(id))
    for (let id = 1; id <= 1024; id++) expect(applied.get('many', id)).toEqual(ok(id))
    expect(applied.get('few', 3)).toEqual(ok(3))
    // Past the window, the oldest give way, as before.
    applied.remember('many', 1025, ok(1025))
    expect(applied.get('many', 1)).toBeUndefined()
    expect(applied.get('many', 2)).toEqual(ok(2))
  })

  describe('a client that went away', () => {
    beforeEach(() => jest.useFakeTimers({ now: 1_700_000_000_000 }))
    afterEach(() => jest.useRealTimers())

    test('is forgotten after the grace period', () => {
      const applied = new AppliedReplies()
      applied.remember('gone', 1, ok('x'))
      applied.away('gone', 1000)
      jest.advanceTimersByTime(999)
      expect(applied.get('gone', 1)).toEqual(ok('x'))
      jest.advanceTimersByTime(1)
      expect(applied.get('gone', 1)).toBeUndefined()
      expect(applied.size).toBe(0)
      applied.close()
    })

    test('that comes back within the grace period keeps its replies', () => {
      const applied = new AppliedReplies()
      applied.remember('back', 1, ok('x'))
      applied.away('back', 1000)
      jest.advanceTimersByTime(500)
      applied.back('back')
      jest.advanceTimersByTime(10_000)
      expect(applied.get('back', 1)).toEqual(ok('x'))
      // Gone again later: a fresh grace period from then.
      applied.away('back', 1000)
      jest.advanceTimersByTime(1000)
      expect(applied.get('back', 1)).toBeUndefined()
      applied.close()
      expect(jest.getTimerCount()).toBe(0)
    })
  })
})

test('slots are copies of every client ring as it stood: later replies do not show in them', () => {
  const applied = new AppliedReplies(64)
  for (let id = 1; id <= 20; id++) applied.remember('a', id, [0, id])
  applied.remember('b', 3, [0, 'three'])
  const slots = applied.slots()
  for (let id = 21; id <= 200; id++) applied.remember('a', id, [0, id])
  const read = (clientId: string): Array<[number, unknown]> => {
    const found = slots.find((slot) => slot.clientId === clientId)
    const pairs: Array<[number, unknown]> = []
    found?.ids.forEach((id, slot) => { if (id !== 0) pairs.push([id, found.replies[slot]]) })
    return pairs.sort((x, y) => x[0] - y[0])
  }
  expect(read('a')).toEqual(Array.from({ length: 20 }, (_, i) => [i + 1, [0, i + 1]]))
  expect(read('b')).toEqual([[3, [0, 'three']]])
})

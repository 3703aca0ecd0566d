import { deleteIn, getIn, incrIn, pushIn, setIn } from '../../lib/store/memory/nested'
import { SharedStateBadPathError, SharedStateNotANumberError } from '../../lib/errors'
import { thrown } from '../helpers/thrown'

const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype).sort()

function expectBadPath (run: () => unknown, message: string): void {
  const error = thrown(run)
  expect(error).toBeInstanceOf(SharedStateBadPathError)
  expect(error.code).toBe('FST_SHARED_STATE_BAD_PATH')
  expect(error.message).toBe(`Bad path: ${message}`)
}

function expectNotANumber (run: () => unknown, at: string): void {
  const error = thrown(run)
  expect(error).toBeInstanceOf(SharedStateNotANumberError)
  expect(error.code).toBe('FST_SHARED_STATE_NOT_A_NUMBER')
  expect(error.message).toBe(`Value at ${at} is not a number`)
}

afterEach(() => {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_NAMES)
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  expect(Object.getPrototypeOf([])).toBe(Array.prototype)
})

describe('getIn', () => {
  const root = { a: { b: [10, { c: 'deep' }] }, m: new Map<unknown, unknown>([['x', { y: 1 }], [2, 'two']]) }

  test('the path of length 1 is the root itself', () => {
    expect(getIn(root, ['key'])).toBe(root)
    expect(getIn(undefined, ['key'])).toBeUndefined()
  })

  test('objects, arrays and Maps, at any depth', () => {
    expect(getIn(root, ['key', 'a', 'b', 0])).toBe(10)
    expect(getIn(root, ['key', 'a', 'b', 1, 'c'])).toBe('deep')
    expect(getIn(root, ['key', 'm', 'x', 'y'])).toBe(1)
    expect(getIn(root, ['key', 'm', 2])).toBe('two')
  })

  test('a missing step gives undefined', () => {
    expect(getIn(root, ['key', 'nope'])).toBeUndefined()
    expect(getIn(root, ['key', 'nope', 'deeper', 'still'])).toBeUndefined()
    expect(getIn(root, ['key', 'a', 'b', 5])).toBeUndefined()
    expect(getIn(root, ['key', 'a', 'b', 5, 'c'])).toBeUndefined()
    expect(getIn(root, ['key', 'm', 'absent'])).toBeUndefined()
    expect(getIn(undefined, ['key', 'a'])).toBeUndefined()
  })

  test('a Map is indexed by the segment itself: 2 and "2" are different keys', () => {
    expect(getIn(root, ['key', 'm', '2'])).toBeUndefined()
  })

  test('an array indexed by a string gives undefined', () => {
    expect(getIn({ list: [1, 2] }, ['key', 'list', 'length'])).toBeUndefined()
  })

  test('inherited properties are not visible', () => {
    expect(getIn({}, ['key', 'toString'])).toBeUndefined()
    expect(getIn({}, ['key', 'hasOwnProperty', 'call'])).toBeUndefined()
    expect(getIn([1], ['key', 'map'])).toBeUndefined()
  })

  test('reading through a number, a string or null is a bad path naming the segment', () => {
    expectBadPath(() => getIn({ n: 5 }, ['key', 'n', 'x']), 'at "key"."n": cannot index into a number')
    expectBadPath(() => getIn({ s: 'text' }, ['key', 's', 0]), 'at "key"."s": cannot index into a string')
    expectBadPath(() => getIn({ z: null }, ['key', 'z', 'x']), 'at "key"."z": cannot index into null')
    expectBadPath(() => getIn({ a: { n: true } }, ['key', 'a', 'n', 'x', 'y']), 'at "key"."a"."n": cannot index into a boolean')
    expectBadPath(() => getIn(42, ['key', 'x']), 'at "key": cannot index into a number')
  })
})

describe('setIn', () => {
  test('a path of length 1 replaces the root', () => {
    expect(setIn({ old: true }, ['key'], 7)).toBe(7)
  })

  test('objects: sets a property and returns the same root', () => {
    const root = { a: { b: 1 } }
    expect(setIn(root, ['key', 'a', 'b'], 2)).toBe(root)
    expect(setIn(root, ['key', 'a', 'c'], [3])).toBe(root)
    expect(root).toStrictEqual({ a: { b: 2, c: [3] } })
  })

  test('setIn([\'array\', 1], 0) on [1, 2, 3] gives [1, 0, 3]', () => {
    const root = [1, 2, 3]
    expect(setIn(root, ['array', 1], 0)).toBe(root)
    expect(root).toStrictEqual([1, 0, 3])
  })

  test('arrays: an index write, and an append at index length', () => {
    const root = { list: ['a', 'b'] }
    setIn(root, ['key', 'list', 0], 'A')
    setIn(root, ['key', 'list', 2], 'c')
    expect(root).toStrictEqual({ list: ['A', 'b', 'c'] })
  })

  test('arrays: a write past the end is refused and changes nothing', () => {
    const root = { list: [1, 2, 3] }
    expectBadPath(() => setIn(root, ['key', 'list', 4], 9), 'at "key"."list".[4]: index 4 is past the end (length 3)')
    expectBadPath(() => setIn(root, ['key', 'list', 10, 'x'], 9), 'at "key"."list".[10]: index 10 is past the end (length 3)')
    expect(root).toStrictEqual({ list: [1, 2, 3] })
  })

  test('arrays: a string segment is refused', () => {
    const root = { list: [1] }
    expectBadPath(() => setIn(root, ['key', 'list', 'x'], 9), 'at "key"."list"."x": an array is indexed by integers')
    expectBadPath(() => setIn(root, ['key', 'list', 'length'], 0), 'at "key"."list"."length": an array is indexed by integers')
    expect(root).toStrictEqual({ list: [1] })
  })

  test('Maps: sets by the segment itself, keeping number and string keys apart', () => {
    const map = new Map<unknown, unknown>([['a', 1]])
    const root = { map }
    setIn(root, ['key', 'map', 'a'], 2)
    setIn(root, ['key', 'map', 3], 'three')
    setIn(root, ['key', 'map', '3'], 'string three')
    expect([...map]).toStrictEqual([['a', 2], [3, 'three'], ['3', 'string three']])
  })

  test('Maps: a missing intermediate inside a Map becomes an object', () => {
    const map = new Map()
    setIn(map, ['key', 'x', 'y'], 1)
    expect(map.get('x')).toStrictEqual({ y: 1 })
  })

  test('missing intermediates become plain objects, also for integer segments', () => {
    expect(setIn(undefined, ['key', 'a', 'b', 'c'], 1)).toStrictEqual({ a: { b: { c: 1 } } })
    const root = setIn({}, ['key', 'a', 0, 'b'], 1) as Record<string, unknown>
    expect(root).toStrictEqual({ a: { 0: { b: 1 } } })
    expect(Array.isArray(root.a)).toBe(false)
    expect(Object.getPrototypeOf(root.a)).toBe(Object.prototype)
  })

  test('a missing intermediate appended to an array at its length', () => {
    const root = { list: [] as unknown[] }
    setIn(root, ['key', 'list', 0, 'name'], 'first')
    expect(root).toStrictEqual({ list: [{ name: 'first' }] })
  })

  test('an undefined root becomes an object', () => {
    expect(setIn(undefined, ['key', 'a'], 1)).toStrictEqual({ a: 1 })
  })

  test('writing through a number, a string or null is a bad path naming the segment', () => {
    expectBadPath(() => setIn({ n: 5 }, ['key', 'n', 'x'], 1), 'at "key"."n": cannot index into a number')
    expectBadPath(() => setIn({ s: 'abc' }, ['key', 's', 0], 'z'), 'at "key"."s": cannot index into a string')
    expectBadPath(() => setIn({ z: null }, ['key', 'z', 'x'], 1), 'at "key"."z": cannot index into null')
    expectBadPath(() => setIn({ a: [{ n: 1 }] }, ['key', 'a', 0, 'n', 'x', 'y'], 1), 'at "key"."a".[0]."n": cannot index into a number')
    expectBadPath(() => setIn('root string', ['key', 'x'], 1), 'at "key": cannot index into a string')
  })

  test('a key whose value is null is not a container either: writing into it is a bad path', () => {
    // Consistent with a null one level down ({ z: null } above): null is a value, not "absent".
    expectBadPath(() => setIn(null, ['key', 'x'], 1), 'at "key": cannot index into null')
  })

  test('writing into an object that is not plain (a Date, a Set) is a bad path', () => {
    expectBadPath(() => setIn({ d: new Date(0) }, ['key', 'd', 'x'], 1), 'at "key"."d": cannot index into Date')
    expectBadPath(() => setIn({ s: new Set() }, ['key', 's', 0], 1), 'at "key"."s": cannot index into Set')
  })

  test('an object without a prototype is a container like any plain object', () => {
    const bare = Object.create(null) as Record<string, unknown>
    setIn({ bare }, ['key', 'bare', 'x'], 1)
    expect(bare.x).toBe(1)
  })

  test('names that Object.prototype has become own data properties, reaching no prototype', () => {
    const root: Record<string, unknown> = {}
    setIn(root, ['key', 'toString'], 'mine')
    setIn(root, ['key', 'hasOwnProperty', 'polluted'], true)
    setIn(root, ['key', 'valueOf', 'x'], 1)
    expect(Object.hasOwn(root, 'toString')).toBe(true)
    expect(root.toString).toBe('mine')
    expect(root.hasOwnProperty).toStrictEqual({ polluted: true })
    expect(root.valueOf).toStrictEqual({ x: 1 })
    expect(getIn(root, ['key', 'toString'])).toBe('mine')
  })

  test('even an unvalidated "__proto__" segment writes an own property, not the prototype', () => {
    const root: Record<string, unknown> = {}
    setIn(root, ['key', '__proto__', 'polluted'], true)
    expect(Object.getPrototypeOf(root)).toBe(Object.prototype)
    expect(Object.hasOwn(root, '__proto__')).toBe(true)
    expect(getIn(root, ['key', '__proto__', 'polluted'])).toBe(true)
  })

  test('an unvalidated "constructor"/"prototype" path writes own properties only', () => {
    const root: Record<string, unknown> = {}
    setIn(root, ['key', 'constructor', 'prototype', 'polluted'], true)
    expect(Object.hasOwn(root, 'constructor')).toBe(true)
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_NAMES)
  })
})

describe('deleteIn', () => {
  test('objects: removes an own property; false when absent or only inherited', () => {
    const root: Record<string, unknown> = { a: { b: 1, c: 2 } }
    expect(deleteIn(root, ['key', 'a', 'b'])).toBe(true)
    expect(root).toStrictEqual({ a: { c: 2 } })
    expect(deleteIn(root, ['key', 'a', 'b'])).toBe(false)
    expect(deleteIn(root, ['key', 'toString'])).toBe(false)
    expect(deleteIn(root, ['key', 'missing', 'deeper'])).toBe(false)
  })

  test('arrays: an element is spliced out; an index past the end or a string is false', () => {
    const root = { list: [1, 2, 3] }
    expect(deleteIn(root, ['key', 'list', 1])).toBe(true)
    expect(root).toStrictEqual({ list: [1, 3] })
    expect(deleteIn(root, ['key', 'list', 2])).toBe(false)
    expect(deleteIn(root, ['key', 'list', 'length'])).toBe(false)
    expect(root).toStrictEqual({ list: [1, 3] })
  })

  test('Maps: removes by the segment itself', () => {
    const map = new Map<unknown, unknown>([[1, 'one'], ['1', 'string one']])
    expect(deleteIn({ map }, ['key', 'map', 1])).toBe(true)
    expect([...map]).toStrictEqual([['1', 'string one']])
    expect(deleteIn({ map }, ['key', 'map', 1])).toBe(false)
  })

  test('an undefined root: nothing to delete', () => {
    expect(deleteIn(undefined, ['key', 'a'])).toBe(false)
  })

  test('deleting through a number, a string or null is a bad path', () => {
    expectBadPath(() => deleteIn({ n: 5 }, ['key', 'n', 'x']), 'at "key"."n": cannot index into a number')
    expectBadPath(() => deleteIn({ z: null }, ['key', 'z', 'x']), 'at "key"."z": cannot index into null')
  })
})

describe('incrIn', () => {
  test('adds to a number and returns the root and the new number', () => {
    const root = { stats: { hits: 2 } }
    const [next, value] = incrIn(root, ['key', 'stats', 'hits'], 3)
    expect(next).toBe(root)
    expect(value).toBe(5)
    expect(root).toStrictEqual({ stats: { hits: 5 } })
  })

  test('negative and fractional steps', () => {
    const root = { n: 1 }
    expect(incrIn(root, ['key', 'n'], -0.5)[1]).toBe(0.5)
  })

  test('a missing number counts as 0, and missing intermediates are created', () => {
    const [root, value] = incrIn(undefined, ['key', 'a', 'b'], 1)
    expect(value).toBe(1)
    expect(root).toStrictEqual({ a: { b: 1 } })
  })

  test('array elements and Map values', () => {
    const root = { list: [1, 2], map: new Map([['n', 10]]) }
    expect(incrIn(root, ['key', 'list', 1], 5)[1]).toBe(7)
    expect(incrIn(root, ['key', 'list', 2], 5)[1]).toBe(5)
    expect(incrIn(root, ['key', 'map', 'n'], 5)[1]).toBe(15)
    expect(root.list).toStrictEqual([1, 7, 5])
    expect(root.map.get('n')).toBe(15)
  })

  test.each([
    ['a string', '5'],
    ['null', null],
    ['an object', { n: 1 }],
    ['an array', [1]],
    ['a boolean', true],
    ['a bigint', 5n]
  ])('a value that is %s is not a number', (_name, value) => {
    const root = { a: { v: value } }
    expectNotANumber(() => incrIn(root, ['key', 'a', 'v'], 1), '"key"."a"."v"')
    expect(root.a.v).toStrictEqual(value)
  })

  test('a path through a number is a bad path', () => {
    expectBadPath(() => incrIn({ n: 5 }, ['key', 'n', 'x'], 1), 'at "key"."n": cannot index into a number')
  })
})

describe('pushIn', () => {
  test('appends to an existing array and returns the root and the new length', () => {
    const root = { list: [1] }
    const [next, length] = pushIn(root, ['key', 'list'], [2, 3])
    expect(next).toBe(root)
    expect(length).toBe(3)
    expect(root).toStrictEqual({ list: [1, 2, 3] })
  })

  test('a missing array is created with the items', () => {
    const [root, length] = pushIn({ other: 1 }, ['key', 'a', 'list'], ['x'])
    expect(length).toBe(1)
    expect(root).toStrictEqual({ other: 1, a: { list: ['x'] } })
  })

  test('a path of length 1 pushes onto the root array, or makes one', () => {
    const list = [1]
    expect(pushIn(list, ['key'], [2])).toStrictEqual([list, 2])
    expect(list).toStrictEqual([1, 2])
    expect(pushIn(undefined, ['key'], [1, 2])).toStrictEqual([[1, 2], 2])
  })

  test('pushing no items returns the current length', () => {
    const root = { list: [1, 2] }
    expect(pushIn(root, ['key', 'list'], [])[1]).toBe(2)
  })

  test('an array inside an array and inside a Map', () => {
    const root = { grid: [[1], [2]], map: new Map([['l', [0]]]) }
    expect(pushIn(root, ['key', 'grid', 1], [3])[1]).toBe(2)
    expect(pushIn(root, ['key', 'map', 'l'], [1, 2])[1]).toBe(3)
    expect(root.grid).toStrictEqual([[1], [2, 3]])
    expect(root.map.get('l')).toStrictEqual([0, 1, 2])
  })

  test('a value that is not an array is a bad path naming it', () => {
    const root = { n: 5, s: 'text', o: {} }
    expectBadPath(() => pushIn(root, ['key', 'n'], [1]), 'at "key"."n": push needs an array, found a number')
    expectBadPath(() => pushIn(root, ['key', 's'], [1]), 'at "key"."s": push needs an array, found a string')
    expectBadPath(() => pushIn(root, ['key', 'o'], [1]), 'at "key"."o": push needs an array, found Object')
    expect(root).toStrictEqual({ n: 5, s: 'text', o: {} })
  })
})

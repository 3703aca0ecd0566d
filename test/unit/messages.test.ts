import { OPS, opCode, parseRequest } from '../../lib/protocol/messages'
import { SharedStateBadPathError, SharedStateProtocolError } from '../../lib/errors'
import { thrown } from '../helpers/thrown'

const BYTES = new Uint8Array([1, 2, 3])

function expectProtocol (run: () => unknown, message: string): void {
  const error = thrown(run)
  expect(error).toBeInstanceOf(SharedStateProtocolError)
  expect(error.code).toBe('FST_SHARED_STATE_PROTOCOL')
  expect(error.message).toBe(`Shared-state protocol error: ${message}`)
}

function expectBadPath (run: () => unknown, message: string): void {
  const error = thrown(run)
  expect(error).toBeInstanceOf(SharedStateBadPathError)
  expect(error.code).toBe('FST_SHARED_STATE_BAD_PATH')
  expect(error.message).toBe(`Bad path: ${message}`)
}

describe('the op allowlist', () => {
  test('opCode and OPS agree for every op', () => {
    OPS.forEach((spec, code) => {
      expect(opCode(spec.name)).toBe(code)
    })
    expect(new Set(OPS.map((spec) => spec.name)).size).toBe(OPS.length)
  })

  test('the allowlist and its argument specs are frozen', () => {
    expect(Object.isFrozen(OPS)).toBe(true)
    for (const spec of OPS) expect(Object.isFrozen(spec)).toBe(true)
  })

  test('opCode refuses a name that is not on the allowlist', () => {
    expectProtocol(() => opCode('eval'), 'no op named eval')
    expectProtocol(() => opCode('constructor'), 'no op named constructor')
  })

  test.each([
    ['one past the last op', OPS.length],
    ['a large code', 9999],
    ['a negative code', -1],
    ['a fractional code', 1.5],
    ['NaN', NaN]
  ])('parseRequest refuses %s', (_name, op) => {
    expectProtocol(() => parseRequest(op, []), `op ${String(op)} is not allowed`)
  })

  test.each([
    ['an op name instead of its code', 'get'],
    ['a numeric string', '1'],
    ['null', null],
    ['undefined', undefined],
    ['an array', [1]],
    ['"length"', 'length']
  ])('parseRequest refuses %s as op', (_name, op) => {
    expectProtocol(() => parseRequest(op, ['key']), `op ${String(op)} is not allowed`)
  })

  test('a valid request returns its spec and arguments', () => {
    const parsed = parseRequest(opCode('incr'), ['counter', 2, 0])
    expect(parsed.spec.name).toBe('incr')
    expect(parsed.spec.mutates).toBe(true)
    expect(parsed.args).toEqual(['counter', 2, 0])
    expect(parseRequest(opCode('ping'), []).args).toEqual([])
  })
})

describe('arity', () => {
  test.each([
    ['get', [], 1],
    ['get', ['a', 'b'], 1],
    ['ping', ['extra'], 0],
    ['set', ['k', BYTES], 3],
    ['acquireLock', ['lock', 100, 100, 100], 3]
  ] as Array<[string, unknown[], number]>)('%s with %j is refused', (name, args, expected) => {
    expectProtocol(() => parseRequest(opCode(name), args), `${name} takes ${expected} arguments, got ${args.length}`)
  })
})

describe('argument kinds', () => {
  test.each([
    ['a number', 5],
    ['null', null],
    ['bytes', BYTES],
    ['an array', ['k']]
  ])('string: %s is refused', (_name, value) => {
    expectProtocol(() => parseRequest(opCode('get'), [value]), 'argument 0 of get must be string')
  })

  test('string: any string is accepted, including the empty one and "__proto__" (keys live in a Map)', () => {
    expect(parseRequest(opCode('get'), ['']).args).toEqual([''])
    expect(parseRequest(opCode('get'), ['__proto__']).args).toEqual(['__proto__'])
  })

  test.each([
    ['a string', 'abc'],
    ['null', null],
    ['an array of numbers', [1, 2, 3]],
    ['an ArrayBuffer', new ArrayBuffer(3)],
    ['an Int16Array', new Int16Array(2)]
  ])('bytes: %s is refused', (_name, value) => {
    expectProtocol(() => parseRequest(opCode('set'), ['k', value, 0]), 'argument 1 of set must be bytes')
  })

  test('bytes?: null is accepted, anything else but bytes refused', () => {
    expect(parseRequest(opCode('compareAndSet'), ['k', null, BYTES]).args).toEqual(['k', null, BYTES])
    expectProtocol(() => parseRequest(opCode('compareAndSet'), ['k', 'x', BYTES]), 'argument 1 of compareAndSet must be bytes?')
    expectProtocol(() => parseRequest(opCode('compareAndSet'), ['k', undefined, BYTES]), 'argument 1 of compareAndSet must be bytes?')
    expectProtocol(() => parseRequest(opCode('compareAndSet'), ['k', null, null]), 'argument 2 of compareAndSet must be bytes')
  })

  test('bytes[]: an array of bytes (possibly empty) is accepted, anything else refused', () => {
    expect(parseRequest(opCode('push'), [['list'], []]).args).toEqual([['list'], []])
    expect(parseRequest(opCode('push'), [['list'], [BYTES, BYTES]]).args).toEqual([['list'], [BYTES, BYTES]])
    expectProtocol(() => parseRequest(opCode('push'), [['list'], BYTES]), 'argument 1 of push must be bytes[]')
    expectProtocol(() => parseRequest(opCode('push'), [['list'], 'x']), 'argument 1 of push must be bytes[]')
    expectProtocol(() => parseRequest(opCode('push'), [['list'], [BYTES, 'x']]), 'argument 1 of push must be bytes[]')
    expectProtocol(() => parseRequest(opCode('push'), [['list'], [null]]), 'argument 1 of push must be bytes[]')
  })

  test.each([
    ['a numeric string', '1'],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['a bigint', 1n],
    ['null', null]
  ])('number: %s is refused', (_name, value) => {
    expectProtocol(() => parseRequest(opCode('incr'), ['k', value, 0]), 'argument 1 of incr must be number')
  })

  test('number: negative and fractional finite numbers are accepted', () => {
    expect(parseRequest(opCode('incr'), ['k', -2.5, 0]).args).toEqual(['k', -2.5, 0])
  })

  test.each([
    ['negative', -1],
    ['fractional', 1.5],
    ['beyond the safe integers', 2 ** 53],
    ['a string', '100'],
    ['NaN', NaN],
    ['Infinity', Infinity]
  ])('ms: %s is refused', (_name, value) => {
    expectProtocol(() => parseRequest(opCode('set'), ['k', BYTES, value]), 'argument 2 of set must be ms')
    expectProtocol(() => parseRequest(opCode('acquireLock'), ['lock', value, 0]), 'argument 1 of acquireLock must be ms')
  })

  test('ms: zero and positive integers are accepted', () => {
    expect(parseRequest(opCode('expire'), ['k', 0]).args).toEqual(['k', 0])
    expect(parseRequest(opCode('acquireLock'), ['lock', 1000, 30000]).args).toEqual(['lock', 1000, 30000])
  })

  test.each([
    ['negative', -1],
    ['fractional', 0.5],
    ['a string', '3'],
    ['beyond the safe integers', 2 ** 60]
  ])('token: %s is refused', (_name, value) => {
    expectProtocol(() => parseRequest(opCode('releaseLock'), ['lock', value]), 'argument 1 of releaseLock must be token')
    expectProtocol(() => parseRequest(opCode('setIfVersion'), ['k', BYTES, value]), 'argument 2 of setIfVersion must be token')
  })

  test('token: zero and positive safe integers are accepted', () => {
    expect(parseRequest(opCode('setIfVersion'), ['k', BYTES, 0]).args).toEqual(['k', BYTES, 0])
    expect(parseRequest(opCode('releaseLock'), ['lock', Number.MAX_SAFE_INTEGER]).args).toEqual(['lock', Number.MAX_SAFE_INTEGER])
  })
})

describe('paths', () => {
  test('a valid path is accepted as given', () => {
    expect(parseRequest(opCode('getIn'), [['key', 'a', 0, 'b', 12]]).args).toEqual([['key', 'a', 0, 'b', 12]])
    expect(parseRequest(opCode('getIn'), [['key']]).args).toEqual([['key']])
  })

  test.each(['__proto__', 'constructor', 'prototype'])('the segment "%s" is refused wherever it appears', (segment) => {
    const message = `segment "${segment}" is not allowed`
    expectBadPath(() => parseRequest(opCode('setIn'), [['key', segment], BYTES]), message)
    expectBadPath(() => parseRequest(opCode('setIn'), [['key', 'a', segment, 'polluted'], BYTES]), message)
    expectBadPath(() => parseRequest(opCode('getIn'), [[segment]]), message)
    expectBadPath(() => parseRequest(opCode('incrIn'), [['key', segment], 1]), message)
    expectBadPath(() => parseRequest(opCode('deleteIn'), [['key', 0, segment]]), message)
    expectBadPath(() => parseRequest(opCode('push'), [['key', segment], [BYTES]]), message)
  })

  test('a path that is not an array, or is empty, is refused', () => {
    const message = 'a path is a non-empty array [key, ...segments]'
    expectBadPath(() => parseRequest(opCode('getIn'), ['key']), message)
    expectBadPath(() => parseRequest(opCode('getIn'), [[]]), message)
    expectBadPath(() => parseRequest(opCode('getIn'), [null]), message)
    expectBadPath(() => parseRequest(opCode('getIn'), [{ 0: 'key', length: 1 }]), message)
  })

  test('the first segment must be the key, a string', () => {
    expectBadPath(() => parseRequest(opCode('getIn'), [[0, 'a']]), 'the first segment of a path is the key, a string')
  })

  test.each([
    ['a negative index', -1, 'segment -1 must be a string or a non-negative integer'],
    ['a fractional index', 1.5, 'segment 1.5 must be a string or a non-negative integer'],
    ['NaN', NaN, 'segment NaN must be a string or a non-negative integer'],
    ['null', null, 'segment null must be a string or a non-negative integer'],
    ['a nested array', ['a'], 'segment a must be a string or a non-negative integer'],
    ['bytes', new Uint8Array([1]), 'segment 1 must be a string or a non-negative integer'],
    ['an unsafe integer', 2 ** 53, `segment ${2 ** 53} must be a string or a non-negative integer`]
  ])('a segment that is %s is refused', (_name, segment, message) => {
    expectBadPath(() => parseRequest(opCode('getIn'), [['key', segment]]), message)
  })

  test('Object.prototype is untouched by refused paths', () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort()
    for (const segment of ['__proto__', 'constructor', 'prototype']) {
      expect(() => parseRequest(opCode('setIn'), [['key', segment, 'polluted'], BYTES])).toThrow()
    }
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

describe('byte arguments are copied', () => {
  test.each([
    ['a Uint8Array', () => new Uint8Array([1, 2, 3, 4])],
    ['a Buffer (what the channel decodes frames into)', () => Buffer.from([1, 2, 3, 4])],
    ['a view into a larger chunk', () => Buffer.from([9, 9, 1, 2, 3, 4, 9]).subarray(2, 6)]
  ])('bytes: %s', (_name, make) => {
    const source = make()
    const { args } = parseRequest(opCode('set'), ['k', source, 0])
    const parsed = args[1] as Uint8Array
    expect(parsed).not.toBe(source)
    expect([...parsed]).toEqual([1, 2, 3, 4])
    source.fill(0)
    expect([...parsed]).toEqual([1, 2, 3, 4])
    // A copy of its own bytes only: it does not keep a larger chunk alive.
    expect(parsed.byteOffset).toBe(0)
    expect(parsed.buffer.byteLength).toBe(4)
  })

  test('bytes?: the expected value is copied', () => {
    const expected = Buffer.from([5, 6])
    const next = Buffer.from([7, 8])
    const { args } = parseRequest(opCode('compareAndSet'), ['k', expected, next])
    expected.fill(0)
    next.fill(0)
    expect([...(args[1] as Uint8Array)]).toEqual([5, 6])
    expect([...(args[2] as Uint8Array)]).toEqual([7, 8])
  })

  test('bytes[]: every item is copied', () => {
    const items = [Buffer.from([1]), new Uint8Array([2, 3])]
    const { args } = parseRequest(opCode('push'), [['list'], items])
    for (const item of items) item.fill(0)
    expect((args[1] as Uint8Array[]).map((item) => [...item])).toEqual([[1], [2, 3]])
  })

  test('setIn: the value bytes are copied', () => {
    const source = Buffer.from([4, 2])
    const { args } = parseRequest(opCode('setIn'), [['key', 'a'], source])
    source.fill(0)
    expect([...(args[1] as Uint8Array)]).toEqual([4, 2])
  })
})

describe('paged reads', () => {
  test('scan, scanKeys and describeKeys take a prefix, a cursor, a count (and a byte budget), and change nothing', () => {
    expect(parseRequest(opCode('scan'), ['user:', '', 100, 65536]).args).toEqual(['user:', '', 100, 65536])
    expect(parseRequest(opCode('scanKeys'), ['', '>user:1', 2000, 65536]).args).toEqual(['', '>user:1', 2000, 65536])
    expect(parseRequest(opCode('describeKeys'), ['', '', 1000]).args).toEqual(['', '', 1000])
    for (const name of ['scan', 'scanKeys', 'describeKeys']) expect(OPS[opCode(name)]?.mutates).toBe(false)
  })

  test('a cursor that is not a string, or a count that is not a whole number, is refused', () => {
    expectProtocol(() => parseRequest(opCode('scan'), ['', 0, 100, 65536]), 'argument 1 of scan must be string')
    expectProtocol(() => parseRequest(opCode('scan'), ['', '', -1, 65536]), 'argument 2 of scan must be token')
    expectProtocol(() => parseRequest(opCode('scanKeys'), ['', '', 1.5, 65536]), 'argument 2 of scanKeys must be token')
    expectProtocol(() => parseRequest(opCode('describeKeys'), ['']), 'describeKeys takes 3 arguments, got 1')
  })
})

describe('lock sections that read and write', () => {
  test('string[]: a list of keys is accepted; anything else is refused', () => {
    expect(parseRequest(opCode('acquireLockReading'), ['l', 10, 0, 0, 1, ['a', '']]).args[5]).toEqual(['a', ''])
    expect(parseRequest(opCode('acquireLockReading'), ['l', 10, 0, 0, 1, []]).args[5]).toEqual([])
    for (const keys of ['a', [1], [null], null]) {
      expectProtocol(() => parseRequest(opCode('acquireLockReading'), ['l', 10, 0, 0, 1, keys]),
        'argument 5 of acquireLockReading must be string[]')
    }
  })

  test('writes: [key, bytes, ms] triples are accepted, their bytes copied; anything else is refused', () => {
    const source = Buffer.from([7])
    const { args } = parseRequest(opCode('releaseLockWriting'), ['l', 3, [['k', source, 0]]])
    source.fill(0)
    expect(args[2]).toEqual([['k', new Uint8Array([7]), 0]])
    for (const writes of ['k', [['k', BYTES]], [[1, BYTES, 0]], [['k', 'text', 0]], [['k', BYTES, -1]], [['k', BYTES, 0.5]]]) {
      expectProtocol(() => parseRequest(opCode('releaseLockWriting'), ['l', 3, writes]),
        'argument 2 of releaseLockWriting must be writes')
    }
  })
})

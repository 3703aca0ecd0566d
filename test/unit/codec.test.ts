import { encode as plainEncode } from '@msgpack/msgpack'
import { UnsupportedValue, ValueCodec } from '../../lib/protocol/codec'

const codec = new ValueCodec()

function roundTrip<T> (value: T): T {
  return codec.decode(codec.encode(value)) as T
}

function expectUnsupported (value: unknown, message: string): void {
  let thrown: unknown
  try {
    codec.encode(value)
  } catch (error) {
    thrown = error
  }
  expect(thrown).toBeInstanceOf(UnsupportedValue)
  expect((thrown as Error).message).toBe(message)
}

function prototypeIsClean (): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_NAMES)
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
}

const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype).sort()

describe('ValueCodec: MessagePack types', () => {
  test.each([
    ['null', null],
    ['true', true],
    ['false', false],
    ['zero', 0],
    ['a small integer', 42],
    ['a negative integer', -7],
    ['a 32-bit boundary', 2 ** 32],
    ['the largest safe integer', Number.MAX_SAFE_INTEGER],
    ['the smallest safe integer', Number.MIN_SAFE_INTEGER],
    ['a float', 3.141592653589793],
    ['a tiny float', 5e-324],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['an empty string', ''],
    ['an ASCII string', 'hello'],
    ['a non-ASCII string', 'zażółć gęślą jaźń 漢字 🎉'],
    ['a long string', 'x'.repeat(70_000)]
  ])('%s round-trips', (_name, value) => {
    expect(roundTrip(value)).toStrictEqual(value)
  })

  test('NaN round-trips', () => {
    expect(roundTrip(NaN)).toBeNaN()
  })

  test('arrays and plain objects round-trip', () => {
    const value = { list: [1, 'two', null, true, [3, [4]]], empty: {}, none: [], nested: { deep: { deeper: 'x' } } }
    expect(roundTrip(value)).toStrictEqual(value)
  })
})

describe('ValueCodec: the extra types of API.md keep their types', () => {
  test('Date', () => {
    const dates = [new Date(0), new Date('2024-02-29T12:34:56.789Z'), new Date(-86_400_000 * 365 * 80)]
    for (const date of dates) {
      const decoded = roundTrip(date)
      expect(decoded).toBeInstanceOf(Date)
      expect(decoded.getTime()).toBe(date.getTime())
    }
  })

  test('Map with string keys', () => {
    const map = new Map([['a', 1], ['b', 2]])
    const decoded = roundTrip(map)
    expect(decoded).toBeInstanceOf(Map)
    expect([...decoded]).toStrictEqual([['a', 1], ['b', 2]])
  })

  test('Map with non-string keys keeps each key with its type', () => {
    const date = new Date(1_700_000_000_000)
    const map = new Map<unknown, unknown>([
      [1, 'one'],
      ['1', 'string one'],
      [true, 'yes'],
      [null, 'nothing'],
      [10n, 'big'],
      [date, 'when'],
      [[1, 2], 'array key'],
      [{ k: 'v' }, 'object key']
    ])
    const decoded = roundTrip(map)
    expect(decoded).toBeInstanceOf(Map)
    expect(decoded.size).toBe(8)
    expect(decoded.get(1)).toBe('one')
    expect(decoded.get('1')).toBe('string one')
    expect(decoded.get(true)).toBe('yes')
    expect(decoded.get(null)).toBe('nothing')
    expect(decoded.get(10n)).toBe('big')
    expect([...decoded.keys()]).toStrictEqual([1, '1', true, null, 10n, date, [1, 2], { k: 'v' }])
    expect([...decoded.keys()][5]).toBeInstanceOf(Date)
  })

  test('Map whose values are arrays keeps them as arrays (no extra flattening)', () => {
    const map = new Map<string, unknown>([['list', [1, [2, 3]]], ['empty', []]])
    expect([...roundTrip(map)]).toStrictEqual([['list', [1, [2, 3]]], ['empty', []]])
  })

  test('an empty Map and an empty Set', () => {
    expect(roundTrip(new Map())).toStrictEqual(new Map())
    expect(roundTrip(new Set())).toStrictEqual(new Set())
  })

  test('Set keeps its order and element types', () => {
    const set = new Set<unknown>([3, 'three', 3n, null, new Date(5)])
    const decoded = roundTrip(set)
    expect(decoded).toBeInstanceOf(Set)
    expect([...decoded]).toStrictEqual([3, 'three', 3n, null, new Date(5)])
  })

  test.each([
    ['zero', 0n],
    ['small', 5n],
    ['negative', -5n],
    ['beyond 64 bits', 2n ** 200n + 12345n],
    ['huge negative', -(3n ** 300n)],
    ['int64 max', 2n ** 63n - 1n],
    ['uint64 max', 2n ** 64n - 1n]
  ])('BigInt %s stays a bigint', (_name, value) => {
    const decoded = roundTrip(value)
    expect(typeof decoded).toBe('bigint')
    expect(decoded).toBe(value)
  })

  test('Buffer stays a Buffer', () => {
    const buffer = Buffer.from([0, 1, 2, 250, 255])
    const decoded = roundTrip(buffer)
    expect(Buffer.isBuffer(decoded)).toBe(true)
    expect(decoded).toStrictEqual(buffer)
  })

  test('a Buffer that is a slice of a larger buffer encodes only its own bytes', () => {
    const pool = Buffer.from('0123456789')
    const decoded = roundTrip(pool.subarray(3, 6))
    expect(Buffer.isBuffer(decoded)).toBe(true)
    expect(decoded.toString()).toBe('345')
  })

  test('a plain Uint8Array stays a Uint8Array, not a Buffer', () => {
    const bytes = new Uint8Array([9, 8, 7, 0, 255])
    const decoded = roundTrip(bytes)
    expect(Buffer.isBuffer(decoded)).toBe(false)
    expect(Object.getPrototypeOf(decoded)).toBe(Uint8Array.prototype)
    expect([...decoded]).toEqual([9, 8, 7, 0, 255])
  })

  test('what decode returns is the caller\'s own: changing the input afterwards changes nothing', () => {
    const values: unknown[] = [new Uint8Array([1, 2, 3]), { bytes: new Uint8Array([4, 5]), n: 1 }, [new Uint8Array([6])], 'text', 12345]
    for (const value of values) {
      const raw = codec.encode(value)
      const decoded = codec.decode(raw)
      raw.fill(0xc0)
      expect(decoded).toEqual(value)
    }
  })

  test('a Uint8Array view at an offset encodes only its own bytes', () => {
    const backing = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])
    const decoded = roundTrip(new Uint8Array(backing.buffer, 3, 4))
    expect(Object.getPrototypeOf(decoded)).toBe(Uint8Array.prototype)
    expect([...decoded]).toEqual([4, 5, 6, 7])
  })

  const typedArrays = [
    ['Int8Array', new Int8Array([-128, -1, 0, 1, 127])],
    ['Uint8ClampedArray', new Uint8ClampedArray([0, 128, 255])],
    ['Int16Array', new Int16Array([-32768, -1, 0, 32767])],
    ['Uint16Array', new Uint16Array([0, 1, 65535])],
    ['Int32Array', new Int32Array([-(2 ** 31), -1, 0, 2 ** 31 - 1])],
    ['Uint32Array', new Uint32Array([0, 1, 2 ** 32 - 1])],
    ['Float32Array', new Float32Array([0.5, -1.25, Infinity, -0])],
    ['Float64Array', new Float64Array([Math.PI, -0, Number.MAX_VALUE, Number.MIN_VALUE, -Infinity])],
    ['BigInt64Array', new BigInt64Array([-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n])],
    ['BigUint64Array', new BigUint64Array([0n, 1n, 2n ** 64n - 1n])]
  ] as const

  test.each(typedArrays)('%s keeps its type and elements', (name, array) => {
    const decoded = roundTrip(array) as ArrayBufferView
    expect(decoded.constructor.name).toBe(name)
    expect(decoded).toStrictEqual(array)
  })

  test('an empty typed array', () => {
    const decoded = roundTrip(new Float64Array(0))
    expect(decoded).toBeInstanceOf(Float64Array)
    expect(decoded.length).toBe(0)
  })

  test('Float64Array and BigInt64Array viewing a larger buffer at an offset', () => {
    const floats = new Float64Array(new ArrayBuffer(64), 8, 3)
    floats.set([1.5, -2.25, 1e300])
    const bigints = new BigInt64Array(new ArrayBuffer(64), 24, 2)
    bigints.set([-(2n ** 62n), 77n])
    const decodedFloats = roundTrip(floats)
    const decodedBigints = roundTrip(bigints)
    expect(decodedFloats).toBeInstanceOf(Float64Array)
    expect([...decodedFloats]).toEqual([1.5, -2.25, 1e300])
    expect(decodedBigints).toBeInstanceOf(BigInt64Array)
    expect([...decodedBigints]).toEqual([-(2n ** 62n), 77n])
  })

  test('typed arrays whose bytes sit at an odd offset inside the encoded message', () => {
    // Strings of odd lengths before each array push its body to offsets no element size divides.
    const value = ['a', new Float64Array([1.25, 2.5]), 'abc', new BigInt64Array([-3n, 4n]), 'abcde', new Int32Array([7, -8]), 'x', new Uint16Array([65535])]
    for (let pad = 0; pad < 8; pad++) {
      const decoded = roundTrip(['p'.repeat(pad), ...value])
      expect(decoded).toStrictEqual(['p'.repeat(pad), ...value])
    }
  })

  test('nested combinations keep every type at every depth', () => {
    const value = {
      when: new Date(1_234_567_890_123),
      counts: new Map<unknown, unknown>([
        ['set', new Set([1n, 2n])],
        [7, { bytes: Buffer.from('buf'), floats: new Float32Array([1.5]) }]
      ]),
      list: [new Map([[new Date(1), [new Uint8Array([1, 2])]]]), -(2n ** 100n), null, { deep: [new Set([new Map([['k', 'v']])])] }]
    }
    const decoded = roundTrip(value)
    expect(decoded).toStrictEqual(value)
    const inner = decoded.counts.get(7) as { bytes: Buffer, floats: Float32Array }
    expect(Buffer.isBuffer(inner.bytes)).toBe(true)
    const bytes = ([...(decoded.list[0] as Map<Date, Uint8Array[]>).values()][0] as Uint8Array[])[0]
    expect(Buffer.isBuffer(bytes)).toBe(false)
    expect(bytes).toBeInstanceOf(Uint8Array)
  })
})

describe('ValueCodec: what cannot be shared', () => {
  test('undefined at the top level', () => {
    expectUnsupported(undefined, 'undefined')
  })

  test('undefined inside an array', () => {
    expectUnsupported([1, undefined, 3], 'undefined at index 1')
    expectUnsupported([1, [2, [undefined]]], 'undefined at index 0')
  })

  test('a hole in a sparse array counts as undefined', () => {
    // eslint-disable-next-line no-sparse-arrays
    expectUnsupported([1, , 3], 'undefined at index 1')
  })

  test('undefined as an object property, at any depth', () => {
    expectUnsupported({ a: 1, b: undefined }, 'undefined at property "b"')
    expectUnsupported({ a: { b: { c: undefined } } }, 'undefined at property "c"')
  })

  test('undefined as a Map value, a Map key or a Set element', () => {
    expectUnsupported(new Map([['k', undefined]]), 'undefined at index 1')
    expectUnsupported(new Map([[undefined, 1]]), 'undefined at index 0')
    expectUnsupported({ m: new Map([['k', { v: undefined }]]) }, 'undefined at property "v"')
    expectUnsupported(new Set([1, undefined]), 'undefined at index 1')
  })

  test('functions, anywhere', () => {
    expectUnsupported(() => 1, 'a function')
    expectUnsupported([function named () {}], 'a function')
    expectUnsupported({ fn: async () => {} }, 'a function')
    expectUnsupported(new Map([['k', () => 1]]), 'a function')
    expectUnsupported(class Foo {}, 'a function')
  })

  test('symbols, anywhere', () => {
    expectUnsupported(Symbol('top'), 'a symbol')
    expectUnsupported([Symbol.iterator], 'a symbol')
    expectUnsupported({ s: Symbol('nested') }, 'a symbol')
    expectUnsupported(new Set([Symbol('in a set')]), 'a symbol')
  })

  test('an object with an own "__proto__" key is refused when encoded, never stored undecodable', () => {
    // JSON.parse makes "__proto__" an own property; the decoder refuses such a key, so a value
    // that encoded would poison its key for every later read.
    const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as unknown
    expect(() => codec.encode(value)).toThrow(UnsupportedValue)
    prototypeIsClean()
  })
})

describe('ValueCodec: decoding is data only', () => {
  afterEach(() => {
    prototypeIsClean()
  })

  test('a MessagePack map with a "__proto__" key is refused and pollutes nothing', () => {
    const raw = plainEncode(JSON.parse('{"__proto__": {"polluted": true}}'))
    expect(() => codec.decode(raw)).toThrow('The key __proto__ is not allowed')
  })

  test('a nested "__proto__" key is refused too', () => {
    const raw = plainEncode({ outer: [JSON.parse('{"__proto__": {"polluted": true}}')] })
    expect(() => codec.decode(raw)).toThrow('The key __proto__ is not allowed')
  })

  test('"constructor" and "prototype" keys decode as plain own data', () => {
    const raw = plainEncode({ constructor: { prototype: { polluted: true } } })
    const decoded = codec.decode(raw) as Record<string, unknown>
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    expect(Object.hasOwn(decoded, 'constructor')).toBe(true)
    expect(decoded.constructor).toStrictEqual({ prototype: { polluted: true } })
  })

  test('a Map with a "__proto__" key is an ordinary Map entry', () => {
    const decoded = roundTrip(new Map([['__proto__', { polluted: true }]]))
    expect(decoded).toBeInstanceOf(Map)
    expect(decoded.get('__proto__')).toStrictEqual({ polluted: true })
  })

  test('an unknown typed-array tag decodes as null, never a constructor call', () => {
    // ext type 5 (typed array) with tag 200: no such constructor.
    const raw = new Uint8Array([0xd5, 0x05, 200, 0])
    expect(codec.decode(raw)).toBeNull()
  })
})

describe('ValueCodec: decoded values are copies', () => {
  test.each([
    ['Buffer', () => Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])],
    ['Uint8Array', () => new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])],
    ['Float64Array', () => new Float64Array([1, 2])],
    ['BigInt64Array', () => new BigInt64Array([1n, 2n])]
  ])('a decoded %s shares no memory with the encoded bytes', (_name, make) => {
    const raw = codec.encode({ value: make() })
    const snapshot = Uint8Array.from(raw)
    const first = codec.decode(raw) as { value: Uint8Array | Float64Array | BigInt64Array }
    new Uint8Array(first.value.buffer, first.value.byteOffset, first.value.byteLength).fill(0xee)
    expect(raw).toStrictEqual(snapshot)
    expect(codec.decode(raw)).toStrictEqual({ value: make() })
  })

  test('mutating decoded containers leaves the encoded bytes and later decodes unchanged', () => {
    const value = { list: [1, 2], map: new Map([['a', [1]]]), set: new Set([1]) }
    const raw = codec.encode(value)
    const first = codec.decode(raw) as typeof value
    first.list.push(3)
    first.map.get('a')?.push(2)
    first.set.add(2)
    expect(codec.decode(raw)).toStrictEqual(value)
  })

  test('encode returns bytes the caller owns: a later encode does not overwrite them', () => {
    const first = codec.encode({ a: 'first' })
    const copy = Uint8Array.from(first)
    codec.encode({ b: 'second, longer value' })
    expect(first).toStrictEqual(copy)
  })
})

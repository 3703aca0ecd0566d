import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startWorker, type WorkerProcess } from '../helpers/worker-process'

// Every value type API.md lists, set in one process and read in another, comes back with its
// type. IPC between this test and the workers is structured clone ('advanced' serialization), so
// values are compared here and types are also reported by the reading worker itself (`shapeOf`),
// where a Buffer is told apart from a Uint8Array. `{ $buffer: bytes }` asks the writing worker
// to make a Buffer, whatever IPC does with Buffers.

const suite = new Teardown()
afterAll(() => suite.run())

let host: WorkerProcess
let first: WorkerProcess
let second: WorkerProcess

beforeAll(async () => {
  const port = await freePort()
  host = await startWorker(suite, { port, key: TEST_KEY })
  expect(host.role).toBe('host')
  const client = (): Promise<WorkerProcess> => startWorker(suite, { port, key: TEST_KEY })
  ;[first, second] = await Promise.all([client(), client()])
})

/** A view that does not start at the beginning of its buffer. */
function offsetView<T> (Type: new (buffer: ArrayBuffer, offset: number, length: number) => T, bytesPerElement: number, values: (view: T) => void): T {
  const view = new Type(new ArrayBuffer(bytesPerElement * 5), bytesPerElement, 3)
  values(view)
  return view
}

// [name, what the writer is sent, what the reader must get, the reader's shape of it]
const cases: Array<[string, unknown, unknown, unknown]> = [
  ['Date', new Date('2024-02-29T12:34:56.789Z'), new Date('2024-02-29T12:34:56.789Z'), 'Date'],
  ['Map with keys of several types',
    new Map<unknown, unknown>([[1, 'one'], ['two', 2], [true, null]]),
    new Map<unknown, unknown>([[1, 'one'], ['two', 2], [true, null]]),
    { Map: [['number', 'string'], ['string', 'number'], ['boolean', 'null']] }],
  ['Set', new Set([1, 'a', 3n]), new Set([1, 'a', 3n]), { Set: ['number', 'string', 'bigint'] }],
  ['BigInt beyond 64 bits, negative and zero',
    [2n ** 64n + 1n, -(2n ** 70n), 0n], [2n ** 64n + 1n, -(2n ** 70n), 0n], ['bigint', 'bigint', 'bigint']],
  ['Buffer', { $buffer: new Uint8Array([0, 1, 255]) }, Buffer.from([0, 1, 255]), 'Buffer'],
  ['Uint8Array', new Uint8Array([0, 1, 255]), new Uint8Array([0, 1, 255]), 'Uint8Array'],
  ['Int8Array', new Int8Array([-128, 0, 127]), new Int8Array([-128, 0, 127]), 'Int8Array'],
  ['Uint8ClampedArray', new Uint8ClampedArray([0, 128, 255]), new Uint8ClampedArray([0, 128, 255]), 'Uint8ClampedArray'],
  ['Int16Array', new Int16Array([-32768, 1, 32767]), new Int16Array([-32768, 1, 32767]), 'Int16Array'],
  ['Uint16Array', new Uint16Array([0, 65535]), new Uint16Array([0, 65535]), 'Uint16Array'],
  ['Int32Array', new Int32Array([-(2 ** 31), 2 ** 31 - 1]), new Int32Array([-(2 ** 31), 2 ** 31 - 1]), 'Int32Array'],
  ['Uint32Array', new Uint32Array([0, 2 ** 32 - 1]), new Uint32Array([0, 2 ** 32 - 1]), 'Uint32Array'],
  ['Float32Array', new Float32Array([1.5, -0.25, Infinity]), new Float32Array([1.5, -0.25, Infinity]), 'Float32Array'],
  ['Float64Array', new Float64Array([Math.PI, -Infinity, NaN]), new Float64Array([Math.PI, -Infinity, NaN]), 'Float64Array'],
  ['BigInt64Array', new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]), new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]), 'BigInt64Array'],
  ['BigUint64Array', new BigUint64Array([0n, 2n ** 64n - 1n]), new BigUint64Array([0n, 2n ** 64n - 1n]), 'BigUint64Array'],
  ['an empty Float32Array', new Float32Array(0), new Float32Array(0), 'Float32Array'],
  ['a Float64Array viewing part of a larger buffer',
    offsetView(Float64Array, 8, (view) => view.set([1, 2, 3])), new Float64Array([1, 2, 3]), 'Float64Array'],
  ['an Int16Array viewing part of a larger buffer',
    offsetView(Int16Array, 2, (view) => view.set([-1, 0, 1])), new Int16Array([-1, 0, 1]), 'Int16Array'],
  ['everything nested',
    {
      when: new Date(0),
      tags: new Set(['a', 'b']),
      matrix: [new Float64Array([1, 2]), new Int32Array([3, 4])],
      index: new Map<string, unknown>([['k', { bytes: { $buffer: new Uint8Array([9]) }, big: 5n }]]),
      deeper: { list: [new Set([new Date(1000)]), new Map([[new Uint16Array([7]), 'typed key']])] }
    },
    {
      when: new Date(0),
      tags: new Set(['a', 'b']),
      matrix: [new Float64Array([1, 2]), new Int32Array([3, 4])],
      index: new Map<string, unknown>([['k', { bytes: Buffer.from([9]), big: 5n }]]),
      deeper: { list: [new Set([new Date(1000)]), new Map([[new Uint16Array([7]), 'typed key']])] }
    },
    {
      when: 'Date',
      tags: { Set: ['string', 'string'] },
      matrix: ['Float64Array', 'Int32Array'],
      index: { Map: [['string', { bytes: 'Buffer', big: 'bigint' }]] },
      deeper: { list: [{ Set: ['Date'] }, { Map: [['Uint16Array', 'string']] }] }
    }]
]

const directions: Array<[string, () => WorkerProcess, () => WorkerProcess]> = [
  ['a client to another client', () => first, () => second],
  ['a client to the host', () => first, () => host],
  ['the host to a client', () => host, () => second]
]

describe.each(directions)('from %s', (direction, writer, reader) => {
  test.each(cases)('%s round-trips with its type', async (name, sent, expected, shape) => {
    const key = `${direction}: ${name}`
    await writer().call('setBuffers', key, sent)
    expect(await reader().call('get', key)).toEqual(expected)
    expect(await reader().call('shapeOf', key)).toEqual(shape)
  })
})

test('an invalid Date round-trips as an invalid Date or is refused; it never becomes another date', async () => {
  const outcome = await first.call('set', 'invalid date', new Date(NaN)).then(
    async () => String(await second.call<Date>('get', 'invalid date')),
    (error: { code: string }) => error.code)
  expect(outcome).toMatch(/^(Invalid Date|FST_SHARED_STATE_UNSUPPORTED_VALUE)$/)
})

describe('values that cannot be shared', () => {
  const kinds = [
    'undefined', 'function', 'symbol', 'nested undefined', 'nested function', 'nested symbol',
    'function in a Map', 'symbol in a Set'
  ]
  const writers: Array<[string, () => WorkerProcess]> = [['a client', () => first], ['the host', () => host]]

  describe.each(writers)('set by %s', (role, writer) => {
    test.each(kinds)('%s rejects with FST_SHARED_STATE_UNSUPPORTED_VALUE naming the key', async (kind) => {
      const key = `unsupported ${kind} by ${role}`
      const failure = await writer().failure('setUnsupported', 'set', key, kind)
      expect(failure.code).toBe('FST_SHARED_STATE_UNSUPPORTED_VALUE')
      expect(failure.message).toContain(`"${key}"`)
      expect(await second.call('has', key)).toBe(false)
    })
  })

  test.each(['setIfAbsent', 'setIn', 'push'])('%s refuses a function the same way and writes nothing', async (method) => {
    const key = `unsupported through ${method}`
    const failure = await first.failure('setUnsupported', method, key, 'function')
    expect(failure.code).toBe('FST_SHARED_STATE_UNSUPPORTED_VALUE')
    expect(failure.message).toContain(`"${key}"`)
    expect(await host.call('has', key)).toBe(false)
  })
})

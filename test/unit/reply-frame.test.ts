import { decode, encode } from '@msgpack/msgpack'
import { readSimpleReply } from '../../lib/protocol/reply-frame'

// The fast reader must give exactly what the general decoder gives, or step aside (undefined).

function frameOf (message: unknown): Buffer {
  const bytes = encode(message)
  // As the channel hands frames over: a Buffer view into a larger chunk.
  const chunk = Buffer.alloc(bytes.length + 8, 0xee)
  chunk.set(bytes, 4)
  return chunk.subarray(4, 4 + bytes.length)
}

const IDS = [1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1]
const VALUES: unknown[] = [
  null, true, false, 0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 32 - 1,
  -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), 0.5, -1.25, 1e300, Infinity, -Infinity, NaN,
  new Uint8Array(0), new Uint8Array([1, 2, 3]), new Uint8Array(255).fill(7), new Uint8Array(256).fill(8), new Uint8Array(70000).fill(9)
]

test.each(IDS)('[id %d, OK, value] reads as the general decoder reads it, for every simple value', (id) => {
  for (const value of VALUES) {
    const frame = frameOf([id, 0, value])
    const fast = readSimpleReply(frame)
    expect(fast).toBeDefined()
    expect(fast).toEqual(decode(frame))
    if (value instanceof Uint8Array) {
      expect(Buffer.isBuffer(fast?.[2])).toBe(Buffer.isBuffer((decode(frame) as unknown[])[2]))
    }
  }
})

test.each([
  ['an error reply', [5, 1, 'FST_SHARED_STATE_TIMEOUT', 'too slow']],
  ['a push', [0, 1, 3, 'set', 'k', new Uint8Array([1])]],
  ['a string value', [5, 0, 'text']],
  ['an array value', [5, 0, [1, 2]]],
  ['a map value', [5, 0, { a: 1 }]],
  ['a 64-bit integer', [5, 0, 2 ** 40]],
  ['a negative 64-bit integer', [5, 0, -(2 ** 40)]],
  ['a 64-bit id', [2 ** 40, 0, 1]],
  ['a float32', [5, 0, new Float32Array([1.5])[0]]],
  ['a four-element message', [5, 0, 1, 2]]
])('%s is left to the general decoder', (_what, message) => {
  const frame = frameOf(message)
  const fast = readSimpleReply(frame)
  // A float32 may be written as float64 by the encoder, which is then read here correctly.
  if (fast !== undefined) expect(fast).toEqual(decode(frame))
  else expect(fast).toBeUndefined()
})

test('a frame with bytes after its value, or cut short, is left to the general decoder', () => {
  for (const value of [1, 300, 70000, -5, -300, 0.5, null, new Uint8Array([1, 2, 3])]) {
    const whole = Buffer.from(encode([7, 0, value]))
    expect(readSimpleReply(Buffer.concat([whole, Buffer.from([0])]))).toBeUndefined()
    for (let cut = 1; cut < whole.length; cut++) expect(readSimpleReply(whole.subarray(0, cut))).toBeUndefined()
  }
})

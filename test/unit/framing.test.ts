import { FrameDecoder, HANDSHAKE_FRAME_BYTES, HEADER_BYTES } from '../../lib/protocol/framing'
import { SharedStateFrameTooLargeError } from '../../lib/errors'

const LARGE_LIMIT = 16 * 1024 * 1024

/** A frame as it travels: a 4-byte big-endian length, then the body. */
function frame (body: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_BYTES)
  header.writeUInt32BE(body.length)
  return Buffer.concat([header, body])
}

function header (declared: number): Buffer {
  const bytes = Buffer.alloc(HEADER_BYTES)
  bytes.writeUInt32BE(declared)
  return bytes
}

/** Bodies of different sizes, including the empty frame. */
const BODIES = [
  Buffer.from('first'),
  Buffer.alloc(0),
  Buffer.from('a somewhat longer second body'),
  Buffer.from([0, 1, 2, 3, 255])
]

/** Feeds every chunk and returns each frame as a copy, as a caller that keeps them would. */
function feed (decoder: FrameDecoder, chunks: Buffer[]): Buffer[] {
  const frames: Buffer[] = []
  for (const chunk of chunks) {
    for (const received of decoder.push(chunk)) frames.push(Buffer.from(received))
  }
  return frames
}

function oneByteChunks (bytes: Buffer): Buffer[] {
  const chunks: Buffer[] = []
  for (let i = 0; i < bytes.length; i++) chunks.push(bytes.subarray(i, i + 1))
  return chunks
}

function expectTooLarge (run: () => unknown, declared: number, limit: number): void {
  let thrown: unknown
  try {
    run()
  } catch (error) {
    thrown = error
  }
  expect(thrown).toBeInstanceOf(SharedStateFrameTooLargeError)
  expect(thrown).toMatchObject({
    code: 'FST_SHARED_STATE_FRAME_TOO_LARGE',
    message: `Frame of ${declared} bytes exceeds the limit of ${limit} bytes`
  })
}

describe('FrameDecoder: splitting a byte stream into frames', () => {
  test('one whole frame in one chunk', () => {
    const decoder = new FrameDecoder(LARGE_LIMIT)
    expect(feed(decoder, [frame(Buffer.from('hello'))])).toEqual([Buffer.from('hello')])
    expect(decoder.bufferedBytes).toBe(0)
  })

  test('an empty frame (length 0) is a frame with an empty body', () => {
    const decoder = new FrameDecoder(LARGE_LIMIT)
    expect(feed(decoder, [header(0)])).toEqual([Buffer.alloc(0)])
    expect(decoder.bufferedBytes).toBe(0)
  })

  test('several frames fed as 1-byte chunks come out whole and in order', () => {
    const decoder = new FrameDecoder(LARGE_LIMIT)
    const stream = Buffer.concat(BODIES.map(frame))
    const frames: Buffer[] = []
    const completedAt: number[] = []
    oneByteChunks(stream).forEach((chunk, index) => {
      for (const received of decoder.push(chunk)) {
        frames.push(Buffer.from(received))
        completedAt.push(index)
      }
    })
    expect(frames).toEqual(BODIES)
    // Each frame is returned by the chunk holding its last byte, not earlier, not later.
    let end = -1
    const expectedEnds = BODIES.map((body) => (end += HEADER_BYTES + body.length))
    expect(completedAt).toEqual(expectedEnds)
    expect(decoder.bufferedBytes).toBe(0)
  })

  test('several frames merged in one chunk are all returned by that chunk', () => {
    const decoder = new FrameDecoder(LARGE_LIMIT)
    expect(feed(decoder, [Buffer.concat(BODIES.map(frame))])).toEqual(BODIES)
    expect(decoder.bufferedBytes).toBe(0)
  })

  test('merged frames followed by the start of the next: the tail waits for its rest', () => {
    const decoder = new FrameDecoder(LARGE_LIMIT)
    const next = frame(Buffer.from('next frame'))
    const chunk = Buffer.concat([...BODIES.map(frame), next.subarray(0, 7)])
    expect(feed(decoder, [chunk])).toEqual(BODIES)
    expect(decoder.bufferedBytes).toBe(7 - HEADER_BYTES)
    expect(feed(decoder, [next.subarray(7)])).toEqual([Buffer.from('next frame')])
    expect(decoder.bufferedBytes).toBe(0)
  })

  test('a frame split into two chunks at every possible offset', () => {
    const body = Buffer.from('split me anywhere')
    const bytes = frame(body)
    for (let offset = 0; offset <= bytes.length; offset++) {
      const decoder = new FrameDecoder(LARGE_LIMIT)
      const first = feed(decoder, [bytes.subarray(0, offset)])
      expect(first).toEqual(offset === bytes.length ? [body] : [])
      const second = feed(decoder, [bytes.subarray(offset)])
      expect([...first, ...second]).toEqual([body])
      expect(decoder.bufferedBytes).toBe(0)
    }
  })

  test('two frames split into three chunks at every pair of offsets', () => {
    const bodies = [Buffer.from('one'), Buffer.from('second body')]
    const bytes = Buffer.concat(bodies.map(frame))
    for (let a = 0; a <= bytes.length; a++) {
      for (let b = a; b <= bytes.length; b++) {
        const decoder = new FrameDecoder(LARGE_LIMIT)
        const frames = feed(decoder, [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)])
        expect(frames).toEqual(bodies)
        expect(decoder.bufferedBytes).toBe(0)
      }
    }
  })

  test('a large frame arriving in many chunks is assembled once complete', () => {
    const decoder = new FrameDecoder(LARGE_LIMIT)
    const body = Buffer.alloc(100_000)
    for (let i = 0; i < body.length; i++) body[i] = i % 251
    const bytes = frame(body)
    const frames: Buffer[] = []
    for (let offset = 0; offset < bytes.length; offset += 1000) {
      frames.push(...feed(decoder, [bytes.subarray(offset, offset + 1000)]))
      if (offset + 1000 < bytes.length) expect(frames).toEqual([])
    }
    expect(frames).toEqual([body])
    expect(decoder.bufferedBytes).toBe(0)
  })

  test('bufferedBytes counts the bytes of the incomplete frame held back', () => {
    const decoder = new FrameDecoder(LARGE_LIMIT)
    const bytes = frame(Buffer.from('0123456789'))
    decoder.push(bytes.subarray(0, 2))
    expect(decoder.bufferedBytes).toBe(2)
    decoder.push(bytes.subarray(2, 9))
    // The header is consumed once complete; what is held back is the part of the body seen so far.
    expect(decoder.bufferedBytes).toBe(9 - HEADER_BYTES)
    decoder.push(bytes.subarray(9))
    expect(decoder.bufferedBytes).toBe(0)
  })
})

describe('FrameDecoder: the frame size limit', () => {
  afterEach(() => {
    jest.restoreAllMocks()
  })

  test('a declared length of 4 GiB is refused as soon as its header is complete', () => {
    const decoder = new FrameDecoder(LARGE_LIMIT)
    expectTooLarge(() => decoder.push(header(0xffffffff)), 0xffffffff, LARGE_LIMIT)
    expect(decoder.bufferedBytes).toBe(0)
  })

  test('a 4 GiB header fed byte by byte: buffered bytes stay below the header size, then it throws', () => {
    const decoder = new FrameDecoder(LARGE_LIMIT)
    const bytes = header(0xffffffff)
    for (let i = 0; i < HEADER_BYTES - 1; i++) {
      expect(decoder.push(bytes.subarray(i, i + 1))).toEqual([])
      expect(decoder.bufferedBytes).toBe(i + 1)
    }
    expectTooLarge(() => decoder.push(bytes.subarray(HEADER_BYTES - 1)), 0xffffffff, LARGE_LIMIT)
    expect(decoder.bufferedBytes).toBe(0)
  })

  test('a 4 GiB header followed by body bytes in the same chunk: refused, none of the body kept', () => {
    const decoder = new FrameDecoder(HANDSHAKE_FRAME_BYTES)
    const chunk = Buffer.concat([header(0xffffffff), Buffer.alloc(500, 7)])
    expectTooLarge(() => decoder.push(chunk), 0xffffffff, HANDSHAKE_FRAME_BYTES)
    expect(decoder.bufferedBytes).toBe(0)
  })

  test('refusing an oversized frame allocates nothing near its declared size', () => {
    const requested: number[] = []
    let recording = true
    const record = (size: unknown): void => { if (recording) requested.push(typeof size === 'number' ? size : 0) }
    const alloc = Buffer.alloc
    const allocUnsafe = Buffer.allocUnsafe
    const allocUnsafeSlow = Buffer.allocUnsafeSlow
    const concat = Buffer.concat
    jest.spyOn(Buffer, 'alloc').mockImplementation((size, ...rest) => { record(size); return alloc(size, ...rest) })
    jest.spyOn(Buffer, 'allocUnsafe').mockImplementation((size) => { record(size); return allocUnsafe(size) })
    jest.spyOn(Buffer, 'allocUnsafeSlow').mockImplementation((size) => { record(size); return allocUnsafeSlow(size) })
    jest.spyOn(Buffer, 'concat').mockImplementation((list, total) => {
      record(total ?? list.reduce((sum, item) => sum + item.length, 0))
      return concat(list, total)
    })
    const bytes = header(0xffffffff)
    const decoder = new FrameDecoder(LARGE_LIMIT)
    decoder.push(bytes.subarray(0, 1))
    decoder.push(bytes.subarray(1, 2))
    let thrown: unknown
    try {
      decoder.push(bytes.subarray(2))
    } catch (error) {
      thrown = error
    }
    recording = false
    expect(thrown).toBeInstanceOf(SharedStateFrameTooLargeError)
    expect(requested.filter((size) => size > HEADER_BYTES)).toEqual([])
  })

  test('the handshake limit: a frame of exactly HANDSHAKE_FRAME_BYTES passes, one byte more is refused', () => {
    expect(HANDSHAKE_FRAME_BYTES).toBe(1024)
    const decoder = new FrameDecoder(HANDSHAKE_FRAME_BYTES)
    const body = Buffer.alloc(HANDSHAKE_FRAME_BYTES, 1)
    expect(feed(decoder, [frame(body)])).toEqual([body])

    const strict = new FrameDecoder(HANDSHAKE_FRAME_BYTES)
    expectTooLarge(() => strict.push(header(HANDSHAKE_FRAME_BYTES + 1)), HANDSHAKE_FRAME_BYTES + 1, HANDSHAKE_FRAME_BYTES)
    expect(strict.bufferedBytes).toBe(0)
  })

  test('setFrameLimit raises the limit after the handshake', () => {
    const decoder = new FrameDecoder(HANDSHAKE_FRAME_BYTES)
    const handshake = Buffer.alloc(100, 3)
    expect(feed(decoder, [frame(handshake)])).toEqual([handshake])
    decoder.setFrameLimit(LARGE_LIMIT)
    const big = Buffer.alloc(64 * 1024, 9)
    const bytes = frame(big)
    expect(feed(decoder, oneByteChunks(bytes.subarray(0, 10)))).toEqual([])
    expect(feed(decoder, [bytes.subarray(10)])).toEqual([big])
    expect(decoder.bufferedBytes).toBe(0)
  })

  test('a raised limit is still a limit', () => {
    const decoder = new FrameDecoder(HANDSHAKE_FRAME_BYTES)
    decoder.setFrameLimit(4096)
    const body = Buffer.alloc(4096, 5)
    expect(feed(decoder, [frame(body)])).toEqual([body])
    expectTooLarge(() => decoder.push(header(4097)), 4097, 4096)
    expect(decoder.bufferedBytes).toBe(0)
  })

  test('the limit applies to every frame of a merged chunk, not only the first', () => {
    const decoder = new FrameDecoder(HANDSHAKE_FRAME_BYTES)
    const chunk = Buffer.concat([frame(Buffer.from('ok')), header(HANDSHAKE_FRAME_BYTES + 1)])
    expectTooLarge(() => decoder.push(chunk), HANDSHAKE_FRAME_BYTES + 1, HANDSHAKE_FRAME_BYTES)
  })
})

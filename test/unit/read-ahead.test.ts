import { PassThrough } from 'node:stream'
import { encode } from '@msgpack/msgpack'
import { MessageChannel } from '../../lib/protocol/channel'
import { ValueCodec } from '../../lib/protocol/codec'
import { EntryTable } from '../../lib/store/memory/entry-table'
import { MemoryState } from '../../lib/store/memory/state'

// A host reads ahead the keys of a read's requests before handling them one by one: the
// messages, their order and the handling of a bad frame must stay what they were.

function frame (body: Uint8Array): Buffer {
  const header = Buffer.alloc(4)
  header.writeUInt32BE(body.length)
  return Buffer.concat([header, body])
}

interface Seen {
  messages: unknown[]
  aheads: unknown[][]
  violations: number
}

/** A channel over a stream fed `chunk` in one write, and what its handlers saw. */
async function receive (chunk: Buffer, withReadAhead: boolean): Promise<Seen> {
  const stream = new PassThrough()
  const seen: Seen = { messages: [], aheads: [], violations: 0 }
  const channel = new MessageChannel(stream, {
    message: (message) => { seen.messages.push(message) },
    readAhead: withReadAhead ? (messages) => { seen.aheads.push([...messages]) } : undefined,
    violation: () => { seen.violations++ },
    close: () => {}
  })
  channel.raiseFrameLimit(1 << 20)
  stream.write(chunk)
  await new Promise((resolve) => setImmediate(resolve))
  return seen
}

const requests = Array.from({ length: 70 }, (_, i) => [i + 1, 3, `key:${i}`])

describe('MessageChannel readAhead', () => {
  test('sees every message of a read, a window at a time, before each is handled, in order', async () => {
    const seen = await receive(Buffer.concat(requests.map((request) => frame(encode(request)))), true)
    expect(seen.messages).toEqual(requests)
    expect(seen.aheads.flat()).toEqual(requests)
    expect(seen.aheads.map((window) => window.length)).toEqual([32, 32, 6])
  })

  test('a lone message is handled without it', async () => {
    const seen = await receive(frame(encode(requests[0])), true)
    expect([seen.messages, seen.aheads]).toEqual([[requests[0]], []])
  })

  test('an undecodable frame: the messages before it are handled, then the channel closes, as without readAhead', async () => {
    const bad = frame(Uint8Array.of(0xc1))
    const chunk = Buffer.concat([frame(encode(requests[0])), frame(encode(requests[1])), bad, frame(encode(requests[2]))])
    const ahead = await receive(chunk, true)
    const plain = await receive(chunk, false)
    expect([ahead.messages, ahead.violations]).toEqual([[requests[0], requests[1]], 1])
    expect([plain.messages, plain.violations]).toEqual([ahead.messages, ahead.violations])
  })
})

describe('readAhead on the map', () => {
  const codec = new ValueCodec()

  test('the table: changes nothing, for present, absent and more keys than it reads ahead', () => {
    const table = new EntryTable(codec)
    for (let i = 0; i < 1000; i++) table.add(`key:${i}`, i, i + 1, 0)
    const keys = Array.from({ length: 300 }, (_, i) => `key:${i * 7}`)
    table.readAhead(keys, new Uint32Array(64))
    table.readAhead([], new Uint32Array(64))
    expect(table.size).toBe(1000)
    const found = keys.map((key) => table.slotOf(key))
    expect(found.map((slot) => slot < 0 ? undefined : [table.number(slot), table.version(slot)])).toEqual(keys.map((_, i) => i * 7 < 1000 ? [i * 7, i * 7 + 1] : undefined))
  })

  test('a map large enough to read ahead answers as before', () => {
    const state = new MemoryState(codec)
    const size = 70_000
    for (let i = 0; i < size; i++) state.set(`key:${i}`, codec.encode(i), 0)
    const keys = Array.from({ length: 100 }, (_, i) => `key:${i * 1000}`)
    state.readAhead(keys)
    expect(state.size).toBe(size)
    const values = keys.map((key) => {
      const raw = state.get(key)
      return raw === undefined ? undefined : codec.decode(raw)
    })
    expect(values).toEqual(keys.map((_, i) => i * 1000 < size ? i * 1000 : undefined))
    expect(state.getVersioned('key:7')[1]).toBe(8)
  })
})

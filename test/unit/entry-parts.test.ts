import { ValueCodec } from '../../lib/protocol/codec'
import type { Encoded } from '../../lib/store/store'
import { countPartEntries, PartWriter, readPart } from '../../lib/store/memory/entry-parts'
import { IncomingHandover } from '../../lib/client/incoming-handover'
import { MemoryState } from '../../lib/store/memory/state'
import { LiveValue, rawOf, type StoredValue } from '../../lib/store/memory/stored-value'

// The binary parts a handover sends: every kind of stored value and key round-trips, parts split
// where they fill, an oversized entry gets a part of its own, and a damaged part is refused.

const codec = new ValueCodec()
const enc = (value: unknown): Encoded => codec.encode(value)

function readAll (parts: Uint8Array[]): Array<[string, StoredValue, number]> {
  const entries: Array<[string, StoredValue, number]> = []
  for (const part of parts) readPart(part, (key, stored, deadline) => entries.push([key, stored, deadline]))
  return entries
}

test('every kind of stored value round-trips as the host keeps it', () => {
  const numbers = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 40, -0, 0.5, Infinity]
  const counters = new PartWriter(1024, codec)
  numbers.forEach((n, i) => counters.add(`n${i}`, n, 0))
  expect(readAll([counters.take()]).map(([, stored]) => stored)).toEqual(numbers)

  const writer = new PartWriter(1024, codec)
  const big = new Uint8Array(5000).fill(7)
  expect(writer.add('n', 1.5, 0)).toBe(true)
  expect(writer.add('s', Buffer.from('\u00ff\u0001abc', 'latin1'), 123456789012)).toBe(true)
  expect(writer.add('ключ 🔑', new Uint8Array(0), 0)).toBe(true)
  expect(writer.add('live', new LiveValue({ a: [1, 2] }, undefined), 0)).toBe(true)
  // Too large for what is left: the caller takes the part, and it goes into the next, alone.
  expect(writer.add('big', big, 0)).toBe(false)
  const first = writer.take()
  expect(writer.empty).toBe(true)
  expect(writer.add('big', big, 0)).toBe(true)
  const second = writer.take()
  const entries = readAll([first, second])
  expect(entries.map(([key]) => key)).toEqual(['n', 's', 'ключ 🔑', 'live', 'big'])
  // A reload counts the entries ahead of restoring them, stepping over every kind.
  expect([countPartEntries(first), countPartEntries(second)]).toEqual([4, 1])
  expect(entries[0]?.[1]).toBe(1.5)
  expect(Buffer.from(entries[1]?.[1] as Uint8Array).toString('latin1')).toBe('\u00ff\u0001abc')
  expect(entries[1]?.[2]).toBe(123456789012)
  expect(entries[2]?.[1]).toEqual(new Uint8Array(0))
  expect(codec.decode(entries[3]?.[1] as Uint8Array)).toEqual({ a: [1, 2] })
  expect(entries[4]?.[1]).toEqual(big)
})

test('a truncated or unknown part is refused, naming the offset', () => {
  const writer = new PartWriter(256, codec)
  writer.add('key', enc('value'), 0)
  const part = writer.take()
  expect(() => readPart(part.subarray(0, part.length - 1), () => {})).toThrow(/malformed at byte/)
  expect(() => countPartEntries(part.subarray(0, part.length - 1))).toThrow(/malformed at byte/)
  const unknownKind = Buffer.from(part)
  unknownKind[0] = 9
  expect(() => readPart(unknownKind, () => {})).toThrow(/malformed at byte/)
  expect(() => countPartEntries(unknownKind)).toThrow(/malformed at byte/)
})

test('a state handed over in parts arrives whole, in order, with deadlines, into an empty map or over one', () => {
  const source = new MemoryState(codec)
  const later = Date.now() + 60_000
  for (let i = 0; i < 5000; i++) source.put(`key:${i}`, enc(i % 3 === 0 ? i : { i }), i % 7 === 0 ? later : 0)
  source.put('gone', enc(1), Date.now() - 1)
  const parts = [...source.encodedParts(4096)]
  expect(parts.length).toBeGreaterThan(10)

  const target = new MemoryState(codec)
  const progress = [...target.restoreParts(parts)]
  expect(progress.at(-1)).toBe(5000)
  expect(target.size).toBe(5000)
  expect(target.keys('')).toEqual(source.keys(''))
  for (let i = 0; i < 5000; i += 499) {
    expect(target.get(`key:${i}`)).toEqual(source.get(`key:${i}`))
    expect(target.ttl(`key:${i}`) > 0).toBe(i % 7 === 0)
  }
  expect(target.keys('key:12')).toEqual(source.keys('key:12'))

  // Over a map that holds keys already, the parts overwrite and add.
  const busy = new MemoryState(codec)
  busy.put('key:1', enc('old'), 0)
  busy.put('zzz', enc('kept'), 0)
  expect([...busy.restoreParts(parts)].at(-1)).toBe(5000)
  expect(busy.size).toBe(5001)
  expect(codec.decode(busy.get('key:1') as Encoded)).toEqual({ i: 1 })
  busy.put('key:0.5', enc('between'), 0)
  expect(busy.keys('key:0')).toEqual(['key:0', 'key:0.5'])
})

test('a successor with a map restores each part as it arrives, in order across parts; a bad part spoils the copy', () => {
  const source = new MemoryState(codec)
  for (let i = 0; i < 3000; i++) source.put(`key:${i}`, enc(i), 0)
  const parts = [...source.encodedParts(2048)]
  const state = new MemoryState(codec)
  const incoming = new IncomingHandover(1, state)
  for (const part of parts) incoming.collect('entries', part)
  expect(incoming.keys).toBe(3000)
  expect(incoming.snapshot.state.parts).toEqual([])
  expect(incoming.snapshot.state.restored).toBe(state)
  expect(state.keys('')).toEqual(source.keys(''))
  expect(state.keys('key:29')).toEqual(source.keys('key:29'))
  expect(incoming.error).toBeUndefined()
  incoming.collect('entries', new Uint8Array([9, 9, 9]))
  expect(incoming.error?.message).toMatch(/malformed/)
})

test("a stored integer's bytes are the codec's own, at every boundary of its forms", () => {
  const values = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -1, -32, -33, -128, -129, -32768, -32769,
    -(2 ** 31), -(2 ** 31) - 1, -0, 0.5, 1e300]
  for (const value of values) expect(Buffer.from(rawOf(value, codec))).toEqual(Buffer.from(enc(value)))
})

test('parts of tiny entries stop at a bounded count however large their byte budget, and skip expired keys', () => {
  const source = new MemoryState(codec)
  for (let i = 0; i < 20_000; i++) source.put(`k${i}`, enc(i), i % 2 === 0 ? Date.now() - 1 : 0)
  const parts = [...source.encodedParts(64 * 1024 * 1024)]
  const counts = parts.map((part) => { let n = 0; readPart(part, () => { n++ }); return n })
  expect(counts.length).toBeGreaterThan(2)
  expect(Math.max(...counts)).toBeLessThanOrEqual(8192)
  expect(counts.reduce((a, b) => a + b)).toBe(10_000)
  const target = new MemoryState(codec)
  expect([...target.restoreParts(parts)].at(-1)).toBe(10_000)
  expect(target.keys('')).toEqual(source.keys(''))
})

test('keys of every form cross as the map orders them: ASCII as bytes, others as strings, in order or not', () => {
  const odd = ['', 'a', 'key:1', 'é', '\u00ff\u0000', 'ключ', '\u{1F600}', 'a\u0100', 'x'.repeat(70), 'é'.repeat(80), '~']
  const source = new MemoryState(codec)
  odd.forEach((key, i) => source.put(key, enc(i), 0))
  for (let i = 0; i < 3000; i++) source.put(`key:${i}`, enc(`v${i}`), 0)
  const parts = [...source.encodedParts(1024)]
  expect(readAll(parts).map(([key]) => key)).toEqual(source.keys(''))

  for (const held of [[], ['key:1', 'zzz'], ['a', 'é', 'key:5x']]) {
    const target = new MemoryState(codec)
    held.forEach((key) => target.put(key, enc('held'), 0))
    expect([...target.restoreParts(parts)].at(-1)).toBe(source.size)
    const all = [...new Set([...source.keys(''), ...held])].sort()
    expect(target.keys('')).toEqual(all)
    expect(target.size).toBe(all.length)
    for (const key of source.keys('')) expect(target.get(key)).toEqual(source.get(key))
    expect(target.keys('key:29')).toEqual(source.keys('key:29'))
    // Found by hash as written through the API: a key added or removed later behaves.
    target.put('key:1500', enc('new'), 0)
    expect(codec.decode(target.get('key:1500') as Encoded)).toBe('new')
    expect(target.delete('key:42')).toBe(true)
    expect(target.has('key:42')).toBe(false)
  }
})

test('a taken part is its own buffer: the next part does not write over it', () => {
  const writer = new PartWriter(64 * 1024, codec)
  writer.add('a', 1, 0)
  const first = writer.take()
  const copy = Buffer.from(first)
  writer.add('b', enc('x'.repeat(100)), 0)
  writer.take()
  expect(first).toEqual(copy)
  expect(first.buffer.byteLength).toBeLessThan(64 * 1024)
})

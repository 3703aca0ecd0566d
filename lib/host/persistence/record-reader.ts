/*
 * Reads back the records record-fast-path.ts frames by hand (req, put, del, applied and a batch
 * of changes), without the generic decoder: on reload the tail of a log is mostly these, and decoding
 * each through a generic MessagePack decoder (a decoder state, a copy of the body so binary values
 * do not keep the whole file alive) cost more than reading its bytes. Anything else, or any form
 * these records are never written in, returns undefined: the caller decodes it the generic way.
 */

// A tag, a key, a value: the shapes record-fast-path writes.
const FIXARRAY_2 = 0x92
const FIXARRAY_4 = 0x94
// A request record: its tag, client, id and reply, then up to 11 changes.
const FIXARRAY_15 = 0x9f

type Read<T> = { value: T, next: number } | undefined

/**
 * The common record at `at`, read no further than `end`, and where it ends (a frame holds records
 * one after another); undefined when it is not one.
 */
export function readNextRecord (bytes: Buffer, at: number, end: number): Read<unknown[]> {
  return readRecord(bytes, at, end, true)
}

// The tags of the records read here, as record-fast-path writes them: fixstrs.
const REQ = tagBytes('req')
const PUT = tagBytes('put')
const DEL = tagBytes('del')
const BATCH = tagBytes('batch')
const APPLIED = tagBytes('applied')

function tagBytes (tag: string): Buffer {
  return Buffer.concat([Buffer.of(0xa0 | tag.length), Buffer.from(tag, 'latin1')])
}

/** True when the bytes at `at` are `tag` (its fixstr head and letters): no string is made of them. */
function isTag (bytes: Buffer, at: number, end: number, tag: Buffer): boolean {
  if (at + tag.length > end) return false
  for (let i = 0; i < tag.length; i++) if (bytes[at + i] !== tag[i]) return false
  return true
}

function readRecord (bytes: Buffer, at: number, end: number, outer: boolean): Read<unknown[]> {
  const head = bytes[at]
  if (head === undefined || head < FIXARRAY_2 || head > FIXARRAY_15) return undefined
  const tag = at + 1
  if (head === FIXARRAY_4 && isTag(bytes, tag, end, PUT)) return readPut(bytes, tag + PUT.length, end)
  if (head >= FIXARRAY_4 && outer && isTag(bytes, tag, end, REQ)) return readRequest(bytes, tag + REQ.length, end, head & 0x0F)
  if (head === FIXARRAY_2 && isTag(bytes, tag, end, DEL)) {
    const key = readString(bytes, tag + DEL.length, end)
    return key === undefined ? undefined : { value: ['del', key.value], next: key.next }
  }
  if (head === FIXARRAY_2 && outer && isTag(bytes, tag, end, BATCH)) return readBatch(bytes, tag + BATCH.length, end)
  if (head === FIXARRAY_4 && isTag(bytes, tag, end, APPLIED)) return readApplied(bytes, tag + APPLIED.length, end)
  return undefined
}

function readBatch (bytes: Buffer, at: number, end: number): Read<unknown[]> {
  const head = bytes[at]
  if (head === undefined || (head & 0xF0) !== 0x90) return undefined
  const records: unknown[] = []
  let next = at + 1
  for (let i = 0; i < (head & 0x0F); i++) {
    const inner = readRecord(bytes, next, end, false)
    if (inner === undefined) return undefined
    records.push(inner.value)
    next = inner.next
  }
  return { value: ['batch', records], next }
}

function readPut (bytes: Buffer, at: number, end: number): Read<unknown[]> {
  const key = readString(bytes, at, end)
  if (key === undefined) return undefined
  const value = readBinary(bytes, key.next, end)
  if (value === undefined) return undefined
  const expiresAt = readNumber(bytes, value.next, end)
  if (expiresAt === undefined) return undefined
  return { value: ['put', key.value, value.value, expiresAt.value], next: expiresAt.next }
}

function readApplied (bytes: Buffer, at: number, end: number): Read<unknown[]> {
  const clientId = readString(bytes, at, end)
  if (clientId === undefined) return undefined
  const id = readNumber(bytes, clientId.next, end)
  if (id === undefined) return undefined
  const reply = readReply(bytes, id.next, end)
  return reply === undefined ? undefined : { value: ['applied', clientId.value, id.value, reply.value], next: reply.next }
}

/** ['req', client, id, reply, change...] of `items` items, from the client on. */
function readRequest (bytes: Buffer, at: number, end: number, items: number): Read<unknown[]> {
  const client = readNumber(bytes, at, end)
  if (client === undefined) return undefined
  const id = readNumber(bytes, client.next, end)
  if (id === undefined) return undefined
  const reply = readReply(bytes, id.next, end)
  if (reply === undefined) return undefined
  const record: unknown[] = ['req', client.value, id.value, reply.value]
  let next = reply.next
  for (let i = 4; i < items; i++) {
    const change = readRecord(bytes, next, end, false)
    if (change === undefined) return undefined
    record.push(change.value)
    next = change.next
  }
  return { value: record, next }
}

/** A reply [0, value] with a value that is a number, a boolean or null. */
function readReply (bytes: Buffer, at: number, end: number): Read<readonly [0, unknown]> {
  if (bytes[at] !== FIXARRAY_2 || bytes[at + 1] !== 0x00) return undefined
  const next = at + 2
  const head = bytes[next]
  if (next >= end || head === undefined) return undefined
  if (head === 0xc0) return { value: [0, null], next: next + 1 }
  if (head === 0xc2) return { value: [0, false], next: next + 1 }
  if (head === 0xc3) return { value: [0, true], next: next + 1 }
  const number = readNumber(bytes, next, end)
  return number === undefined ? undefined : { value: [0, number.value], next: number.next }
}

/**
 * Where the bytes of a MessagePack str or bin at `at` start and end: `code8` is the head of its
 * 8-bit length form, the 16- and 32-bit forms follow it (str: 0xd9, bin: 0xc4); a str's fixstr
 * form is `fixed`. Undefined when the head is none of them or the bytes run past `end`.
 */
function sized (bytes: Buffer, at: number, end: number, code8: number, fixed: boolean): [number, number] | undefined {
  const head = bytes[at]
  let length: number
  let start: number
  if (head === undefined) return undefined
  if (fixed && (head & 0xE0) === 0xA0) {
    length = head & 0x1F
    start = at + 1
  } else if (head === code8 && at + 2 <= end) {
    length = bytes[at + 1] as number
    start = at + 2
  } else if (head === code8 + 1 && at + 3 <= end) {
    length = bytes.readUInt16BE(at + 1)
    start = at + 3
  } else if (head === code8 + 2 && at + 5 <= end) {
    length = bytes.readUInt32BE(at + 1)
    start = at + 5
  } else {
    return undefined
  }
  return start + length > end ? undefined : [start, start + length]
}

function readString (bytes: Buffer, at: number, end: number): Read<string> {
  const range = sized(bytes, at, end, 0xd9, true)
  return range === undefined ? undefined : { value: bytes.toString('utf8', range[0], range[1]), next: range[1] }
}

// A binary value up to this long is copied into an array of its own in a loop: V8 keeps so small
// a typed array inside its heap, cheaper to make and to collect than a view of a pool.
const LOOP_COPY_BYTES = 32

/**
 * A binary value, copied out of `bytes` (the whole file), so that it keeps only itself alive; a
 * larger copy comes from Node's shared pool, not an allocation of its own.
 */
function readBinary (bytes: Buffer, at: number, end: number): Read<Uint8Array> {
  const range = sized(bytes, at, end, 0xc4, false)
  if (range === undefined) return undefined
  const [start, stop] = range
  if (stop - start > LOOP_COPY_BYTES) return { value: Buffer.from(bytes.subarray(start, stop)), next: stop }
  const value = new Uint8Array(stop - start)
  for (let i = start; i < stop; i++) value[i - start] = bytes[i] as number
  return { value, next: stop }
}

/** The number forms record-fast-path writes: a positive fixint, a 32-bit integer, a float64. */
function readNumber (bytes: Buffer, at: number, end: number): Read<number> {
  const head = bytes[at]
  if (head === undefined) return undefined
  if (head < 0x80) return { value: head, next: at + 1 }
  if (head === 0xce && at + 5 <= end) return { value: bytes.readUInt32BE(at + 1), next: at + 5 }
  if (head === 0xd2 && at + 5 <= end) return { value: bytes.readInt32BE(at + 1), next: at + 5 }
  if (head === 0xcb && at + 9 <= end) return { value: bytes.readDoubleBE(at + 1), next: at + 9 }
  return undefined
}

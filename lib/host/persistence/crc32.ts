import * as zlib from 'node:zlib'

/**
 * CRC-32 (IEEE 802.3, the checksum of zlib, gzip and PNG). Node has it natively from 20.15; the
 * table-driven version below serves older 20.x releases and pins the native one down in tests.
 */
export function crc32 (bytes: Uint8Array): number {
  return typeof zlib.crc32 === 'function' ? zlib.crc32(bytes) : portableCrc32(bytes)
}

// Below this many bytes the table loop beats the native call, whose fixed cost (argument checks,
// the view it needs over the range) is about that of 300 bytes of table lookups: a record's
// header and most change records are far shorter.
const NATIVE_FROM_BYTES = 256

/** CRC-32 of `bytes[start..end)`, without a view over the range when it is short. */
export function crc32Range (bytes: Uint8Array, start: number, end: number): number {
  if (end - start >= NATIVE_FROM_BYTES && typeof zlib.crc32 === 'function') return zlib.crc32(bytes.subarray(start, end))
  return tableCrc32(bytes, start, end)
}

const TABLES = crcTables()

/** Four tables, so the loop takes four bytes a step ("slicing by 4"); the first is the classic one. */
function crcTables (): [Int32Array, Int32Array, Int32Array, Int32Array] {
  const first = new Int32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = (c & 1) === 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1
    first[n] = c
  }
  const second = shiftedTable(first, first)
  const third = shiftedTable(second, first)
  return [first, second, third, shiftedTable(third, first)]
}

/** The table for one byte further along: each entry of `previous` run through one more byte. */
function shiftedTable (previous: Int32Array, first: Int32Array): Int32Array {
  const table = new Int32Array(256)
  for (let n = 0; n < 256; n++) {
    const entry = previous[n] as number
    table[n] = (first[entry & 0xFF] as number) ^ (entry >>> 8)
  }
  return table
}

function tableCrc32 (bytes: Uint8Array, start: number, end: number): number {
  const [t0, t1, t2, t3] = TABLES
  let crc = -1
  let i = start
  for (; i + 4 <= end; i += 4) {
    crc ^= (bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24)
    crc = (t3[crc & 0xFF] as number) ^ (t2[(crc >>> 8) & 0xFF] as number) ^ (t1[(crc >>> 16) & 0xFF] as number) ^ (t0[crc >>> 24] as number)
  }
  for (; i < end; i++) crc = (t0[(crc ^ (bytes[i] as number)) & 0xFF] as number) ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}

export function portableCrc32 (bytes: Uint8Array): number {
  return tableCrc32(bytes, 0, bytes.length)
}

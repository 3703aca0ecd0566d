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

// Eight tables of 256 entries in one array, so the loop takes eight bytes a step ("slicing by 8",
// a third faster than by 4 on a record); the first table is the classic one.
const TABLES = crcTables()

function crcTables (): Int32Array {
  const tables = new Int32Array(8 * 256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = (c & 1) === 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1
    tables[n] = c
  }
  // Each table is the one before it run through one more byte.
  for (let n = 256; n < tables.length; n++) {
    const entry = tables[n - 256] as number
    tables[n] = (tables[entry & 0xFF] as number) ^ (entry >>> 8)
  }
  return tables
}

function tableCrc32 (bytes: Uint8Array, start: number, end: number): number {
  const t = TABLES
  let crc = -1
  let i = start
  for (; i + 8 <= end; i += 8) {
    const low = crc ^ ((bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24))
    crc = (t[1792 + (low & 0xFF)] as number) ^ (t[1536 + ((low >>> 8) & 0xFF)] as number) ^
      (t[1280 + ((low >>> 16) & 0xFF)] as number) ^ (t[1024 + (low >>> 24)] as number) ^
      (t[768 + (bytes[i + 4] as number)] as number) ^ (t[512 + (bytes[i + 5] as number)] as number) ^
      (t[256 + (bytes[i + 6] as number)] as number) ^ (t[bytes[i + 7] as number] as number)
  }
  for (; i < end; i++) crc = (t[(crc ^ (bytes[i] as number)) & 0xFF] as number) ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}

export function portableCrc32 (bytes: Uint8Array): number {
  return tableCrc32(bytes, 0, bytes.length)
}

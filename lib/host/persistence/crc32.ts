import * as zlib from 'node:zlib'

/**
 * CRC-32 (IEEE 802.3, the checksum of zlib, gzip and PNG). Node has it natively from 20.15; the
 * table-driven version below serves older 20.x releases and pins the native one down in tests.
 */
export function crc32 (bytes: Uint8Array): number {
  return typeof zlib.crc32 === 'function' ? zlib.crc32(bytes) : portableCrc32(bytes)
}

const TABLE = crcTable()

function crcTable (): Uint32Array {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = (c & 1) === 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1
    table[n] = c
  }
  return table
}

export function portableCrc32 (bytes: Uint8Array): number {
  let crc = 0xFFFFFFFF
  for (let i = 0; i < bytes.length; i++) {
    crc = (TABLE[(crc ^ (bytes[i] as number)) & 0xFF] as number) ^ (crc >>> 8)
  }
  return (crc ^ 0xFFFFFFFF) >>> 0
}

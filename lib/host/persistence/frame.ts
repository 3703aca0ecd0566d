import { crc32Range } from './crc32'

/**
 * A frame of the change log: u32 body length, u32 CRC-32 of the body, u32 CRC-32 of those 8
 * bytes, then the body, one or more records (see record-format.ts). The checksum of the header
 * tells a torn last frame from a corrupt length in the middle.
 */
export const FRAME_HEADER_BYTES = 12

/** Where records are written: `room(n)` returns a buffer with n bytes free from `end`. */
export interface RecordSink {
  readonly end: number
  room: (bytes: number) => Buffer
  /** The record written into `room`'s buffer from `end` ends at `recordEnd`. */
  commit: (recordEnd: number) => void
}

/** A big-endian u32 (or i32) at `offset`, known to fit (no range checks, unlike writeUInt32BE). */
export function putUInt32 (buffer: Buffer, offset: number, value: number): void {
  buffer[offset] = value >>> 24
  buffer[offset + 1] = value >>> 16
  buffer[offset + 2] = value >>> 8
  buffer[offset + 3] = value
}

/** Fills in the header of the frame at `start` whose body runs up to `end`. */
export function sealFrame (buffer: Buffer, start: number, end: number): void {
  putUInt32(buffer, start, end - start - FRAME_HEADER_BYTES)
  putUInt32(buffer, start + 4, crc32Range(buffer, start + FRAME_HEADER_BYTES, end))
  putUInt32(buffer, start + 8, crc32Range(buffer, start, start + 8))
}

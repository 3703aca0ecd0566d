import type { ValueCodec } from '../../protocol/codec'
import type { EntryTable } from './entry-table'
import { countPartEntries, isAscii, PartWriter, readPartEntries } from './entry-parts'
import { hashUnits } from './key-hash'
import type { KeyIndex } from './key-index'
import { PAGE_MS, VISITS_PER_CLOCK } from './state-pages'
import type { StoredValue } from './stored-value'

/*
 * A map's entries moved in binary parts (entry-parts.ts), for a handover and a snapshot on disk:
 * taken in key order a part at a time, and restored a part at a time, keys in order into an
 * empty map without a lookup each.
 */

// A binary part looks at most at this many entries whatever its byte budget, so making it, and
// restoring it on the other side, is a step of a few milliseconds even when entries are tiny.
const ENCODED_PART_ITEMS = 8192
// Counting a part's entries ahead of a restore takes about 0.1 ms: this many go in one turn.
const COUNTED_PER_TURN = 32

/** What moving entries in parts needs of a MemoryState: its table and index as they are now. */
export interface PartsTarget {
  table: () => EntryTable
  index: () => KeyIndex
  /** Hands a restored key's deadline to the expiry sweeper. */
  schedule: (slot: number, deadline: number) => void
  /** The map's next version. */
  tick: () => number
  codec: () => ValueCodec
}

/**
 * The live entries as binary parts of about `maxBytes` at most, at most ENCODED_PART_ITEMS
 * entries and about PAGE_MS of work each, in key order: the caller sends each part and yields
 * before it asks for the next.
 */
export function * encodeParts (map: PartsTarget, maxBytes: number): Generator<Buffer> {
  const writer = new PartWriter(maxBytes, map.codec())
  const now = Date.now()
  let after: string | undefined
  let done = false
  while (!done) {
    const table = map.table()
    // The last key written or skipped as expired: the next part starts after it.
    let last = -1
    let visits = 0
    const started = performance.now()
    done = map.index().forEach('', after, (slot) => {
      if (visits++ === ENCODED_PART_ITEMS) return false
      if (visits % VISITS_PER_CLOCK === 0 && !writer.empty && performance.now() - started > PAGE_MS) return false
      const deadline = table.deadline(slot)
      if ((deadline === 0 || deadline > now) && !writer.addSlot(table, slot, table.value(slot), deadline)) return false
      last = slot
      return true
    })
    if (last >= 0) after = table.key(last)
    if (!writer.empty) yield writer.take()
  }
}

/**
 * Adds the entries of binary parts, yielding the keys restored so far after each part. A key
 * above every key held (as when parts come in key order into an empty map, a handover or a
 * reload) is absent: it is added without a lookup, at the end of the index; an ASCII one goes from
 * the part to its record as bytes, never made a string. Given many parts at once (a reload), it
 * counts their entries first and makes room for them all.
 */
export function * restoreParts (map: PartsTarget, parts: readonly Uint8Array[]): Generator<number> {
  let restored = 0
  if (parts.length > 1) yield * reserveFor(map, parts)
  const now = Date.now()
  for (const part of parts) {
    const table = map.table()
    const index = map.index()
    readPartEntries(part, (bytes, keyStart, keyEnd, stored, deadline) => {
      if (deadline !== 0 && deadline <= now) return
      restored++
      const length = keyEnd - keyStart
      if (isAscii(bytes, keyStart, keyEnd)) {
        const last = index.last()
        if (last < 0 || table.compareKeyBytes(last, bytes, keyStart, length) < 0) {
          const hash = hashUnits(bytes, keyStart, length, false)
          const slot = table.addNarrow(bytes, keyStart, length, hash, stored, map.tick(), deadline)
          index.append(slot)
          if (deadline !== 0) map.schedule(slot, deadline)
          return
        }
      }
      restoreEntry(map, table, index, bytes.toString('utf8', keyStart, keyEnd), stored, deadline)
    })
    yield restored
  }
}

/** Counts the entries of `parts`, a slice at a time, and makes room for them in the table. */
function * reserveFor (map: PartsTarget, parts: readonly Uint8Array[]): Generator<number> {
  let count = 0
  for (let at = 0; at < parts.length; at++) {
    count += countPartEntries(parts[at] as Uint8Array)
    if (at % COUNTED_PER_TURN === COUNTED_PER_TURN - 1) yield 0
  }
  const table = map.table()
  table.reserve(table.size + count)
}

/** One entry of `restoreParts` by its key as a string: a key present is overwritten. */
function restoreEntry (map: PartsTarget, table: EntryTable, index: KeyIndex, key: string, stored: StoredValue, deadline: number): void {
  const last = index.last()
  const above = last < 0 || table.compareKey(last, key) < 0
  let slot = above ? -1 : table.slotOf(key)
  const version = map.tick()
  let before = 0
  if (slot < 0) {
    slot = table.add(key, stored, version, deadline)
    if (above) index.append(slot)
    else index.add(key, slot)
  } else {
    before = table.deadline(slot)
    table.write(slot, stored, version, deadline)
  }
  if (deadline !== before) map.schedule(slot, deadline)
}

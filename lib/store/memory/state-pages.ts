import { setImmediate as nextTurn } from 'node:timers/promises'
import type { EntryTable } from './entry-table'
import type { KeyIndex } from './key-index'

/** One page of a walk over the keys of a prefix: the cursor to resume from ('' when done). */
export interface Page<T> {
  cursor: string
  items: T[]
}

// A page never holds more than this many items, nor looks at more than VISITS_PER_ITEM times as
// many keys (expired ones are skipped), so one page is a short task whatever its caller asks.
export const MAX_PAGE_ITEMS = 10_000
const VISITS_PER_ITEM = 4
// Per item of a page, on top of the key and value bytes: MessagePack headers and the array.
const ITEM_OVERHEAD_BYTES = 16
// A page of a walk, or a part, also ends once it has taken this long (the clock read every
// VISITS_PER_CLOCK keys), with at least one item: the first pages a process walks run before V8
// has optimized the walk, each ten to fifty times slower than the pages after, and a page bounded
// by its items alone then holds the loop that much longer. The caller walks on from the cursor.
export const PAGE_MS = 1.5
export const VISITS_PER_CLOCK = 128

/** A cursor names the last key a page returned, so a walk resumes after it whatever changed. */
function cursorAfter (key: string): string {
  return `>${key}`
}

function keyOfCursor (cursor: string): string | undefined {
  return cursor === '' ? undefined : cursor.slice(1)
}

export interface PageRequest {
  prefix: string
  cursor: string
  count: number
  maxBytes: number
}

/**
 * The next page of live keys under `prefix` after `cursor`, each made an item by `take` (which
 * also says its size in bytes): at most `count` items (and MAX_PAGE_ITEMS), about `maxBytes`,
 * and PAGE_MS of work. Expired keys are skipped, and left for the sweeper.
 */
export function walkPage<T> (table: EntryTable, index: KeyIndex, request: PageRequest, take: (slot: number) => [T, number]): Page<T> {
  const limit = Math.max(1, Math.min(request.count, MAX_PAGE_ITEMS))
  let visits = limit * VISITS_PER_ITEM
  const now = Date.now()
  const until = performance.now() + PAGE_MS
  let untilClock = VISITS_PER_CLOCK
  const items: T[] = []
  let bytes = 0
  let last = -1
  const done = index.forEach(request.prefix, keyOfCursor(request.cursor), (slot) => {
    if (items.length >= limit || bytes >= request.maxBytes || visits-- === 0) return false
    if (--untilClock === 0) {
      untilClock = VISITS_PER_CLOCK
      if (performance.now() > until) return false
    }
    last = slot
    const deadline = table.deadline(slot)
    if (deadline !== 0 && deadline <= now) return true
    const [item, size] = take(slot)
    items.push(item)
    bytes += size + ITEM_OVERHEAD_BYTES
    return true
  })
  return { cursor: done || last < 0 ? '' : cursorAfter(table.key(last)), items }
}

/** Every item of a walk, page after page from the start. */
export function collectPages<T> (page: (cursor: string) => Page<T>): T[] {
  const all: T[] = []
  let cursor = ''
  do cursor = take(page(cursor), all)
  while (cursor !== '')
  return all
}

/** As `collectPages`, a page a turn, so a large map never holds the loop. */
export async function collectPagesInTurns<T> (page: (cursor: string) => Page<T>): Promise<T[]> {
  const all: T[] = []
  let cursor = take(page(''), all)
  while (cursor !== '') {
    await nextTurn()
    cursor = take(page(cursor), all)
  }
  return all
}

/** Adds the page's items to `all`; its cursor. */
function take<T> (page: Page<T>, all: T[]): string {
  for (const item of page.items) all.push(item)
  return page.cursor
}

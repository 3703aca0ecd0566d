import { KeyArena, type ArenaOwner } from '../../lib/store/memory/key-arena'
import { hashKey, hashUnits } from '../../lib/store/memory/key-hash'

/** Slots and their handles, as the table keeps them: a record moved by compaction updates its slot. */
class Owner implements ArenaOwner {
  readonly handles = new Map<number, number>()
  moves = 0
  handleOf (slot: number): number { return this.handles.get(slot) ?? 0 }
  moved (slot: number, from: number, to: number): void {
    expect(this.handles.get(slot)).toBe(from)
    this.handles.set(slot, to)
    this.moves++
  }
}

function setup (): { arena: KeyArena, owner: Owner } {
  const owner = new Owner()
  return { arena: new KeyArena(owner), owner }
}

/** JavaScript's own order of strings: UTF-16 code units. */
function sign (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

const KEYS = ['', 'a', 'key:1', 'é', '\u00ff\u0000', 'ключ', '\u{1F600}', 'a\u0100', 'x'.repeat(70), 'ü'.repeat(100), 'ж'.repeat(65), 'y'.repeat(32_767), 'ж'.repeat(32_767)]

describe('KeyArena', () => {
  test('hashes a kept key as hashKey hashes the string', () => {
    const { arena } = setup()
    KEYS.forEach((key, slot) => expect(arena.hash(arena.create(slot, key, 0))).toBe(hashKey(key)))
  })

  test('keeps every key as it was given: empty, one byte per unit, UTF-16, long', () => {
    const { arena } = setup()
    const handles = KEYS.map((key, slot) => arena.create(slot, key, 0))
    KEYS.forEach((key, i) => {
      const handle = handles[i] as number
      expect(arena.key(handle)).toBe(key)
      expect(arena.keyLength(handle)).toBe(key.length)
      expect(arena.isNarrowKey(handle)).toBe([...key].every((c) => c.charCodeAt(0) < 256 && c.length === 1))
      expect(arena.keyEquals(handle, key)).toBe(true)
      expect(arena.keyEquals(handle, `${key}!`)).toBe(false)
    })
  })

  test('compares and matches prefixes as JavaScript orders strings', () => {
    const { arena } = setup()
    const probes = [...KEYS, 'b', 'key:', 'key:10', '\u00ff', 'клю', '\u{1F600}x', 'a\u00ff']
    KEYS.forEach((key, slot) => {
      const handle = arena.create(slot, key, 0)
      for (const probe of probes) {
        expect([key, probe, Math.sign(arena.compareKey(handle, probe))]).toEqual([key, probe, sign(key, probe)])
        expect([key, probe, arena.keyStartsWith(handle, probe)]).toEqual([key, probe, key.startsWith(probe)])
      }
    })
  })

  test('value bytes sit beside the key; a resized record keeps its slot, key, version and kind', () => {
    const { arena } = setup()
    let handle = arena.create(3, 'ключ', 4)
    expect(handle).not.toBe(0)
    arena.setVersion(handle, 2 ** 32 - 1)
    arena.setKind(handle, 5)
    arena.buffer(handle).set([1, 2, 3, 4], arena.valueOffset(handle))
    expect(arena.valueLength(handle)).toBe(4)
    expect([...arena.buffer(handle).subarray(arena.valueOffset(handle), arena.valueOffset(handle) + 4)]).toEqual([1, 2, 3, 4])
    handle = arena.resize(handle, 4000)
    expect(arena.key(handle)).toBe('ключ')
    expect(arena.valueLength(handle)).toBe(4000)
    expect(arena.version(handle)).toBe(2 ** 32 - 1)
    expect(arena.kind(handle)).toBe(5)
    expect(arena.slotOf(handle)).toBe(3)
  })

  test('a key larger than a chunk gets a chunk of its own', () => {
    const { arena } = setup()
    const huge = 'k'.repeat(3 << 20)
    const small = arena.create(0, 'small', 0)
    const handle = arena.create(1, huge, 10)
    expect(arena.key(handle)).toBe(huge)
    expect(arena.key(small)).toBe('small')
    expect(arena.create(2, 'after', 0)).toBeGreaterThan(small)
  })

  test('freed records are compacted away: live ones move (their slots told), memory goes back', () => {
    const { arena, owner } = setup()
    const count = 200_000
    for (let slot = 0; slot < count; slot++) owner.handles.set(slot, arena.create(slot, `key:${slot}`, 8))
    const full = arena.bytes
    expect(full).toBeGreaterThan(4 << 20)
    // Free nine in ten, spread over every chunk: each chunk is mostly dead, none entirely.
    for (let slot = 0; slot < count; slot++) {
      if (slot % 10 === 0) continue
      arena.free(owner.handles.get(slot) as number)
      owner.handles.delete(slot)
    }
    // Compaction runs a few records per write: keep writing (and freeing) new keys.
    for (let n = 0; n < 100_000; n++) {
      const slot = count + (n % 100)
      const previous = owner.handles.get(slot)
      if (previous !== undefined) arena.free(previous)
      owner.handles.set(slot, arena.create(slot, `new:${n}`, 8))
      arena.compact()
    }
    expect(owner.moves).toBeGreaterThan(0)
    expect(arena.bytes).toBeLessThanOrEqual(full / 3)
    for (let slot = 0; slot < count; slot += 10) {
      const handle = owner.handles.get(slot) as number
      expect(arena.key(handle)).toBe(`key:${slot}`)
      expect(arena.slotOf(handle)).toBe(slot)
    }
  })

  test('a chunk whose records are all freed is released at once, and its number reused', () => {
    const { arena, owner } = setup()
    const handles: number[] = []
    for (let slot = 0; slot < 100_000; slot++) handles.push(arena.create(slot, `key:${slot}`, 0))
    const before = arena.bytes
    // All but the last record: every chunk but the one being written is entirely dead.
    for (const handle of handles.slice(0, -1)) arena.free(handle)
    expect(arena.bytes).toBeLessThan(before)
    expect(owner.moves).toBe(0)
    const reused = arena.create(0, 'again', 0)
    expect(arena.key(reused)).toBe('again')
    expect(arena.key(handles.at(-1) as number)).toBe('key:99999')
  })
  test('a key given as one-unit bytes (a restored part) is kept, hashed and compared as its string', () => {
    const { arena } = setup()
    const narrow = KEYS.filter((key) => [...key].every((unit) => unit.charCodeAt(0) < 0x100))
    const source = Buffer.from(`..${narrow.join('')}`, 'latin1')
    let at = 2
    narrow.forEach((key, slot) => {
      const handle = arena.createNarrow(slot, source, at, key.length, 3)
      expect(arena.key(handle)).toBe(key)
      expect(arena.slotOf(handle)).toBe(slot)
      expect(arena.valueLength(handle)).toBe(3)
      expect(arena.hash(handle)).toBe(hashKey(key))
      expect(hashUnits(source, at, key.length, false)).toBe(hashKey(key))
      at += key.length
    })
    // Against records of every kind of key, as compareKey orders the same key as a string.
    const records = KEYS.map((key, slot) => arena.create(100 + slot, key, 0))
    at = 2
    for (const key of narrow) {
      records.forEach((handle, i) => expect(Math.sign(arena.compareKeyBytes(handle, source, at, key.length))).toBe(sign(KEYS[i] as string, key)))
      at += key.length
    }
  })

  test('copies a key out as bytes only when they are ASCII', () => {
    const { arena } = setup()
    const target = new Uint8Array(8)
    expect(arena.copyAsciiKey(arena.create(0, 'key:1', 0), target, 2)).toBe(true)
    expect(Buffer.from(target.subarray(2, 7)).toString('latin1')).toBe('key:1')
    expect(arena.copyAsciiKey(arena.create(1, 'é', 0), target, 0)).toBe(false)
    expect(arena.copyAsciiKey(arena.create(2, 'ключ', 0), target, 0)).toBe(false)
    expect(arena.copyAsciiKey(arena.create(3, '', 0), target, 0)).toBe(true)
  })
})

import { SharedStateBadPathError, SharedStateNotANumberError } from '../../errors'
import { describePath } from '../path'

/**
 * Edits in place inside a decoded value: the host's half of `setIn`, `incrIn`, `push` and friends.
 * Only own properties are read or written, and the segments were validated (no `__proto__`), so a
 * path can never reach a prototype. Containers are plain objects, arrays and Maps; a missing
 * intermediate becomes a plain object.
 */

type Segment = string | number
type Container = Record<string, unknown> | unknown[] | Map<unknown, unknown>

function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function isContainer (value: unknown): value is Container {
  return Array.isArray(value) || value instanceof Map || isPlainObject(value)
}

function clash (path: readonly Segment[], depth: number, what: string): never {
  throw new SharedStateBadPathError(`at ${describePath(path.slice(0, depth + 1))}: ${what}`)
}

function arrayIndex (array: unknown[], segment: Segment, path: readonly Segment[], depth: number, forWrite: boolean): number {
  if (typeof segment !== 'number') clash(path, depth, 'an array is indexed by integers')
  // Writing one past the end appends; anything further would leave holes MessagePack cannot carry.
  const limit = forWrite ? array.length : array.length - 1
  if (segment > limit) clash(path, depth, `index ${segment} is past the end (length ${array.length})`)
  return segment
}

export function readChild (container: Container, segment: Segment): unknown {
  if (Array.isArray(container)) return typeof segment === 'number' ? container[segment] : undefined
  if (container instanceof Map) return container.get(segment)
  const key = String(segment)
  return Object.hasOwn(container, key) ? container[key] : undefined
}

function writeChild (container: Container, segment: Segment, value: unknown, path: readonly Segment[], depth: number): void {
  if (Array.isArray(container)) {
    container[arrayIndex(container, segment, path, depth, true)] = value
  } else if (container instanceof Map) {
    container.set(segment, value)
  } else {
    // defineProperty, not assignment: an own data property even for names Object.prototype has.
    Object.defineProperty(container, String(segment), { value, writable: true, enumerable: true, configurable: true })
  }
}

function removeChild (container: Container, segment: Segment, path: readonly Segment[], depth: number): boolean {
  if (Array.isArray(container)) {
    if (typeof segment !== 'number' || segment >= container.length) return false
    container.splice(arrayIndex(container, segment, path, depth, false), 1)
    return true
  }
  if (container instanceof Map) return container.delete(segment)
  const key = String(segment)
  if (!Object.hasOwn(container, key)) return false
  delete container[key]
  return true
}

/**
 * Walks `root` along `path` (whose first element is the key, already resolved to `root`) to the
 * container that holds the last segment. With `create`, missing intermediates become objects;
 * without it, a missing one returns undefined.
 */
function parentOf (root: unknown, path: readonly Segment[], create: boolean): Container | undefined {
  let node = root
  for (let depth = 1; depth < path.length - 1; depth++) {
    if (!isContainer(node)) clash(path, depth - 1, `cannot index into ${typeName(node)}`)
    const segment = path[depth] as Segment
    let child = readChild(node, segment)
    if (child === undefined) {
      if (!create) return undefined
      child = {}
      writeChild(node, segment, child, path, depth)
    }
    node = child
  }
  if (!isContainer(node)) clash(path, path.length - 2, `cannot index into ${typeName(node)}`)
  return node
}

function typeName (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? (value.constructor?.name ?? 'an object') : `a ${typeof value}`
}

/** The value at `path` inside `root`, or undefined. */
export function getIn (root: unknown, path: readonly Segment[]): unknown {
  if (path.length === 1) return root
  if (root === undefined) return undefined
  const parent = parentOf(root, path, false)
  return parent === undefined ? undefined : readChild(parent, path[path.length - 1] as Segment)
}

/** Sets the value at `path`; returns the (possibly new) root. */
export function setIn (root: unknown, path: readonly Segment[], value: unknown): unknown {
  if (path.length === 1) return value
  const base = root === undefined ? {} : root
  const parent = parentOf(base, path, true) as Container
  writeChild(parent, path[path.length - 1] as Segment, value, path, path.length - 1)
  return base
}

/** Removes the value at `path` (an array element is spliced out); true when something was there. */
export function deleteIn (root: unknown, path: readonly Segment[]): boolean {
  if (root === undefined) return false
  const parent = parentOf(root, path, false)
  return parent === undefined ? false : removeChild(parent, path[path.length - 1] as Segment, path, path.length - 1)
}

/** Adds `by` to the number at `path` (missing counts as 0); returns [new root, new number]. */
export function incrIn (root: unknown, path: readonly Segment[], by: number): [unknown, number] {
  const found = getIn(root, path)
  const current = found === undefined ? 0 : found
  if (typeof current !== 'number') throw new SharedStateNotANumberError(describePath(path))
  const next = current + by
  return [setIn(root, path, next), next]
}

/** Appends to the array at `path` (missing: a new array); returns [new root, new length]. */
export function pushIn (root: unknown, path: readonly Segment[], items: unknown[]): [unknown, number] {
  const current = getIn(root, path)
  if (current === undefined) return [setIn(root, path, items), items.length]
  if (!Array.isArray(current)) clash(path, path.length - 1, `push needs an array, found ${typeName(current)}`)
  current.push(...items)
  return [root, current.length]
}

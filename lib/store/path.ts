import { SharedStateBadPathError } from '../errors'
import type { Path } from './store'

// Segments that would reach an object's prototype chain. They are refused everywhere a path is
// accepted, so no peer can pollute Object.prototype on the host or in another worker.
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype'])

export function describePath (path: readonly unknown[]): string {
  return path.map((segment) => typeof segment === 'number' ? `[${segment}]` : JSON.stringify(segment)).join('.')
}

/** Checks a path from any source (a caller, or a peer's frame) and returns it typed. */
export function validatePath (path: unknown): Path {
  if (!Array.isArray(path) || path.length === 0) {
    throw new SharedStateBadPathError('a path is a non-empty array [key, ...segments]')
  }
  if (typeof path[0] !== 'string') throw new SharedStateBadPathError('the first segment of a path is the key, a string')
  for (const segment of path) {
    if (typeof segment === 'string') {
      if (FORBIDDEN.has(segment)) throw new SharedStateBadPathError(`segment "${segment}" is not allowed`)
    } else if (typeof segment !== 'number' || !Number.isSafeInteger(segment) || segment < 0) {
      throw new SharedStateBadPathError(`segment ${String(segment)} must be a string or a non-negative integer`)
    }
  }
  return path as unknown as Path
}

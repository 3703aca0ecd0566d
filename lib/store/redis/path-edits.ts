import { setTimeout as sleep } from 'node:timers/promises'
import { SharedStateConflictError } from '../../errors'
import type { ValueCodec } from '../../protocol/codec'
import * as nested from '../memory/nested'
import type { Encoded, Path } from '../store'

/** The two versioned steps an edit needs; each is one atomic command in Redis. */
export interface VersionedAccess {
  getVersioned: (key: string) => Promise<[Encoded | undefined, number]>
  setIfVersion: (key: string, value: Encoded, version: number) => Promise<boolean>
}

/** What an edit of a key's decoded value did: a new root to write (or nothing to write), and the answer. */
type Edit<R> = { write: true, root: unknown, result: R } | { write: false, result: R }

// Backoff after a lost race, so processes contending for one key do not retry in lockstep.
const BACKOFF_AFTER = 2
const BACKOFF_MAX_MS = 5

/**
 * Nested edits (`setIn`, `deleteIn`, `incrIn`, `push`) in Redis mode: optimistic and atomic.
 * Each one reads the value with its version, edits the decoded value here with the same code the
 * memory store runs (nested.ts), and writes it back only if the version is unchanged (the
 * SET_IF_VERSION script); otherwise it starts again on the newer value. A write lands only on the
 * exact value it was computed from, so the edit is atomic; it cannot be one Lua script because
 * Redis' cmsgpack does not round-trip the extension types values may hold (see scripts.ts).
 *
 * The caller serializes edits of one key within this process, so only other processes can make
 * an edit retry; one that keeps losing for longer than `timeout` rejects with CONFLICT.
 */
export class PathEdits {
  readonly #access: VersionedAccess
  readonly #codec: ValueCodec
  readonly #timeout: number

  constructor (access: VersionedAccess, codec: ValueCodec, timeout: number) {
    this.#access = access
    this.#codec = codec
    this.#timeout = timeout
  }

  /** A read needs no loop: the value is read in one command, then walked here. */
  getIn (root: Encoded | undefined, path: Path): Encoded | undefined {
    if (root === undefined) return undefined
    const value = nested.getIn(this.#codec.decode(root), path)
    return value === undefined ? undefined : this.#codec.encode(value)
  }

  setIn (path: Path, value: Encoded): Promise<void> {
    return this.#edit(path[0], (root) => ({ write: true, root: nested.setIn(root, path, this.#codec.decode(value)), result: undefined }))
  }

  deleteIn (path: Path): Promise<boolean> {
    return this.#edit(path[0], (root) => nested.deleteIn(root, path)
      ? { write: true, root, result: true }
      : { write: false, result: false })
  }

  incrIn (path: Path, by: number): Promise<number> {
    return this.#edit(path[0], (root) => {
      const [next, result] = nested.incrIn(root, path, by)
      return { write: true, root: next, result }
    })
  }

  push (path: Path, items: Encoded[]): Promise<number> {
    return this.#edit(path[0], (root) => {
      const [next, result] = nested.pushIn(root, path, items.map((item) => this.#codec.decode(item)))
      return { write: true, root: next, result }
    })
  }

  async #edit<R> (key: string, change: (root: unknown) => Edit<R>): Promise<R> {
    const deadline = Date.now() + this.#timeout
    for (let attempt = 1; ; attempt++) {
      const [raw, version] = await this.#access.getVersioned(key)
      // Decoded afresh on every attempt: the edit mutates what it is given.
      const edit = change(raw === undefined ? undefined : this.#codec.decode(raw))
      if (!edit.write) return edit.result
      if (await this.#access.setIfVersion(key, this.#codec.encode(edit.root), version)) return edit.result
      if (Date.now() >= deadline) throw new SharedStateConflictError(key, attempt)
      if (attempt >= BACKOFF_AFTER) await sleep(Math.random() * BACKOFF_MAX_MS)
    }
  }
}

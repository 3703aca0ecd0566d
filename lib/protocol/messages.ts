import { SharedStateProtocolError } from '../errors'
import { MAX_MS } from '../deadlines'
import { validatePath } from '../store/path'

/**
 * The messages that travel after authentication, each one MessagePack array in one frame:
 *
 *   request  [id, op, ...args]         id > 0, unique per client for its lifetime (a retry reuses it)
 *   reply    [id, REPLY_OK, result]
 *            [id, REPLY_ERROR, code, message]
 *   push     [0, PUSH_*, ...]          sent by the host unasked (change events)
 *
 * `op` is an index into OPS: the allowlist. The host dispatches nothing else, and checks every
 * argument's type here before a store sees it.
 */

export const REPLY_OK = 0
export const REPLY_ERROR = 1
export const PUSH_ID = 0
export const PUSH_CHANGE = 1
export const PUSH_OVERFLOW = 2
/**
 * A handover, between a closing host and the successor it chose:
 *
 *   host -> successor   PUSH_HANDOVER (parts of the state) ..., PUSH_HANDOVER_END [clock, expected, together]
 *   successor -> host   handoverProgress (a part taken in, or restored) ..., then
 *                       handoverPrepared (the state is open, ready to bind)
 *   host -> successor   PUSH_PORT_FREE (the host stopped listening)  or  PUSH_HANDOVER_CANCEL
 *   successor -> host   handoverReady (bound and serving)  or  handoverFailed (could not bind)
 *
 * The host keeps the port until its successor is prepared and frees it for that one successor
 * alone, so a worker starting meanwhile finds a host (frozen, it waits) rather than a free port.
 */
export const PUSH_HANDOVER = 3
export const PUSH_HANDOVER_END = 4
export const PUSH_PORT_FREE = 5
export const PUSH_HANDOVER_CANCEL = 6

/** The longest duration an op takes (see deadlines.ts), here too for the op checks' callers. */
export { MAX_MS }

type ArgKind = 'string' | 'string[]' | 'bytes' | 'bytes?' | 'bytes[]' | 'number' | 'ms' | 'path' | 'token' | 'writes'

interface OpSpec {
  readonly name: string
  readonly args: readonly ArgKind[]
  /** Changes state: a retry after a lost reply must not apply it twice. */
  readonly mutates: boolean
}

function op (name: string, args: readonly ArgKind[], mutates: boolean): OpSpec {
  return Object.freeze({ name, args, mutates })
}

// Append only: the index is the op's code on the wire.
export const OPS: readonly OpSpec[] = Object.freeze([
  op('ping', [], false),
  op('get', ['string'], false),
  op('set', ['string', 'bytes', 'ms'], true),
  op('setIfAbsent', ['string', 'bytes', 'ms'], true),
  op('has', ['string'], false),
  op('delete', ['string'], true),
  op('keys', ['string'], false),
  op('entries', ['string'], false),
  op('size', [], false),
  op('clear', [], true),
  op('incr', ['string', 'number', 'ms'], true),
  op('getVersioned', ['string'], false),
  op('setIfVersion', ['string', 'bytes', 'token'], true),
  op('compareAndSet', ['string', 'bytes?', 'bytes'], true),
  op('getIn', ['path'], false),
  op('setIn', ['path', 'bytes'], true),
  op('deleteIn', ['path'], true),
  op('incrIn', ['path', 'number'], true),
  op('push', ['path', 'bytes[]'], true),
  op('expire', ['string', 'ms'], true),
  op('ttl', ['string'], false),
  op('watch', ['string'], false),
  op('unwatch', ['token'], false),
  op('acquireLock', ['string', 'ms', 'ms'], true),
  op('releaseLock', ['string', 'token'], true),
  op('isLocked', ['string'], false),
  // The client leaves for good: the host may forget the replies it kept for its retries.
  op('bye', [], false),
  // The successor of a closing host has taken the state and listens: the old host may let go.
  op('handoverReady', [], false),
  // Inspection: what `app.shared.stats()` and the inspect command show.
  op('stats', [], false),
  // A page of [key, bytes, ms left] rows: prefix, cursor, count.
  op('describeKeys', ['string', 'string', 'token'], false),
  // acquireLock with the epoch ms at which the caller stops waiting: a host that reads it late (a
  // blocked loop) grants nothing the caller gave up on, and a resend after a change of host waits
  // only what was left.
  op('acquireLockUntil', ['string', 'ms', 'ms', 'token'], true),
  // watch under an id the worker chose, so an event that arrives before the reply finds its
  // listener, and the same id serves again after a change of host.
  op('watchAs', ['string', 'token'], false),
  // Pages of a walk over a prefix: prefix, cursor ('' to start), count (and a byte budget for
  // values); the reply is [next cursor ('' when done), items]. Whole-map reads are made of these,
  // so no reply outgrows a frame and no request holds the host for long.
  op('scan', ['string', 'string', 'token', 'token'], false),
  op('scanKeys', ['string', 'string', 'token', 'token'], false),
  // The worker is closing: the host must not choose it as a successor (it says so before it stops).
  op('leaving', [], false),
  // The successor has opened the handed-over state and waits for the port.
  op('handoverPrepared', [], false),
  // The successor was told the port was free, and could not bind it.
  op('handoverFailed', [], false),
  // acquireLock whose grant carries the values of the listed keys, read while the lock is held:
  // the holder's reads need no round trip of their own. Args: as acquireLockUntil, then turns
  // (tokens reserved for the worker's own hand-offs, capped by the host) and the keys. Replies
  // [token, values (nil: absent)], or the token alone when no keys were asked for.
  op('acquireLockReading', ['string', 'ms', 'ms', 'token', 'token', 'string[]'], true),
  // releaseLock that first applies [key, bytes, ttl] writes, in the same step: a holder whose
  // lease ran out writes nothing.
  op('releaseLockWriting', ['string', 'token', 'writes'], true),
  // The writes of a section the holder's worker passed on to its own next acquirer: applied only
  // while that worker still holds the grant `token`.
  op('writeUnderLock', ['string', 'token', 'writes'], true),
  // The successor took in a part of the state, or restored one: the handover is moving.
  op('handoverProgress', [], false),
  // A notice, unanswered: every call of this worker below this id has its answer or was given
  // up, so none of them is ever sent again; the host's snapshots need not keep their replies.
  op('settled', ['token'], false)
])

export type OpName = typeof OPS[number]['name']

const CODES = new Map(OPS.map((spec, code) => [spec.name, code]))

export function opCode (name: string): number {
  const code = CODES.get(name)
  if (code === undefined) throw new SharedStateProtocolError(`no op named ${name}`)
  return code
}

function bad (spec: OpSpec, index: number, kind: ArgKind): never {
  throw new SharedStateProtocolError(`argument ${index} of ${spec.name} must be ${kind}`)
}

// Binary arguments arrive as views into the frame buffer, which may be a slice of a large socket
// chunk; a copy keeps the store from pinning that chunk for as long as the value lives.
function ownBytes (value: unknown): Uint8Array | undefined {
  // Uint8Array's slice, not Buffer's: on a Buffer, slice() is a view, not a copy.
  return value instanceof Uint8Array ? Uint8Array.prototype.slice.call(value) : undefined
}

/** One `[key, bytes, ttl ms]` of a release that writes. */
function checkWrite (spec: OpSpec, index: number, write: unknown): [string, Uint8Array, number] {
  if (!Array.isArray(write) || write.length !== 3 || typeof write[0] !== 'string') bad(spec, index, 'writes')
  const ttl = write[2]
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl < 0 || ttl > MAX_MS) bad(spec, index, 'writes')
  return [write[0], ownBytes(write[1]) ?? bad(spec, index, 'writes'), ttl]
}

function checkArg (spec: OpSpec, index: number, kind: ArgKind, value: unknown): unknown {
  switch (kind) {
    case 'string':
      return typeof value === 'string' ? value : bad(spec, index, kind)
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? value : bad(spec, index, kind)
    case 'ms':
      return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_MS ? value : bad(spec, index, kind)
    case 'token':
      return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : bad(spec, index, kind)
    case 'bytes':
      return ownBytes(value) ?? bad(spec, index, kind)
    case 'bytes?':
      return value === null ? null : ownBytes(value) ?? bad(spec, index, kind)
    case 'bytes[]':
      if (!Array.isArray(value)) bad(spec, index, kind)
      return value.map((item) => ownBytes(item) ?? bad(spec, index, kind))
    case 'path':
      return validatePath(value)
    case 'string[]':
      if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) bad(spec, index, kind)
      return value
    case 'writes':
      if (!Array.isArray(value)) bad(spec, index, kind)
      return value.map((write) => checkWrite(spec, index, write))
  }
}

/**
 * Looks up an op and checks its arguments; throws PROTOCOL (or BAD_PATH) for anything else.
 * `args` is a fresh array the caller hands over: checked values (byte copies) replace it in place,
 * which spares an array per request on the host's hottest path.
 */
export function parseRequest (op: unknown, args: unknown[]): { spec: OpSpec, args: unknown[] } {
  const spec = typeof op === 'number' ? OPS[op] : undefined
  if (spec === undefined) throw new SharedStateProtocolError(`op ${String(op)} is not allowed`)
  const kinds = spec.args
  if (args.length !== kinds.length) {
    throw new SharedStateProtocolError(`${spec.name} takes ${kinds.length} arguments, got ${args.length}`)
  }
  for (let index = 0; index < kinds.length; index++) {
    args[index] = checkArg(spec, index, kinds[index] as ArgKind, args[index])
  }
  return { spec, args }
}

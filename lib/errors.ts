import createError from '@fastify/error'

/** Passed last to any error constructor to keep the underlying error (a socket's, say). */
export interface Cause { cause: unknown }

// Every error the package raises is built here, so codes, messages and HTTP statuses are reviewed
// in one place. A route that lets one escape answers with the status given here: 503 where the
// host cannot be reached right now (a retry later may succeed), 500 for programming errors.

export const SharedStateOptionsError = createError<'FST_SHARED_STATE_OPTIONS', 500, [string, Cause?]>(
  'FST_SHARED_STATE_OPTIONS', 'Invalid shared-state option: %s', 500)

export const SharedStateAlreadyRegisteredError = createError<'FST_SHARED_STATE_ALREADY_REGISTERED', 500, [Cause?]>(
  'FST_SHARED_STATE_ALREADY_REGISTERED', 'fastify-shared-state is already registered on this instance', 500)

export const SharedStateAuthError = createError<'FST_SHARED_STATE_AUTH', 503, [string, Cause?]>(
  'FST_SHARED_STATE_AUTH', 'Shared-state authentication failed: %s', 503)

export const SharedStatePortTakenError = createError<'FST_SHARED_STATE_PORT_TAKEN', 503, [string, Cause?]>(
  'FST_SHARED_STATE_PORT_TAKEN', 'Something that does not speak the shared-state protocol holds %s', 503)

export const SharedStateConnectTimeoutError = createError<'FST_SHARED_STATE_CONNECT_TIMEOUT', 503, [string, number, Cause?]>(
  'FST_SHARED_STATE_CONNECT_TIMEOUT', 'Could not reach the shared state at %s within %d ms', 503)

export const SharedStateTimeoutError = createError<'FST_SHARED_STATE_TIMEOUT', 503, [string, number, Cause?]>(
  'FST_SHARED_STATE_TIMEOUT', 'Shared-state operation "%s" timed out after %d ms', 503)

export const SharedStateHostLostError = createError<'FST_SHARED_STATE_HOST_LOST', 503, [string, Cause?]>(
  'FST_SHARED_STATE_HOST_LOST', 'The shared-state host is unreachable: %s', 503)

export const SharedStateFrameTooLargeError = createError<'FST_SHARED_STATE_FRAME_TOO_LARGE', 500, [number, number, Cause?]>(
  'FST_SHARED_STATE_FRAME_TOO_LARGE', 'Frame of %d bytes exceeds the limit of %d bytes', 500)

export const SharedStateProtocolError = createError<'FST_SHARED_STATE_PROTOCOL', 500, [string, Cause?]>(
  'FST_SHARED_STATE_PROTOCOL', 'Shared-state protocol error: %s', 500)

export const SharedStateUnsupportedValueError = createError<'FST_SHARED_STATE_UNSUPPORTED_VALUE', 500, [string, string, Cause?]>(
  'FST_SHARED_STATE_UNSUPPORTED_VALUE', 'Value for key "%s" cannot be shared: %s', 500)

export const SharedStateNotANumberError = createError<'FST_SHARED_STATE_NOT_A_NUMBER', 500, [string, Cause?]>(
  'FST_SHARED_STATE_NOT_A_NUMBER', 'Value at %s is not a number', 500)

export const SharedStateBadPathError = createError<'FST_SHARED_STATE_BAD_PATH', 500, [string, Cause?]>(
  'FST_SHARED_STATE_BAD_PATH', 'Bad path: %s', 500)

export const SharedStateConflictError = createError<'FST_SHARED_STATE_CONFLICT', 409, [string, number, Cause?]>(
  'FST_SHARED_STATE_CONFLICT', 'Key "%s" kept changing; gave up after %d retries', 409)

export const SharedStateLockTimeoutError = createError<'FST_SHARED_STATE_LOCK_TIMEOUT', 503, [string, number, Cause?]>(
  'FST_SHARED_STATE_LOCK_TIMEOUT', 'Lock "%s" was not acquired within %d ms', 503)

export const SharedStateLockNotHeldError = createError<'FST_SHARED_STATE_LOCK_NOT_HELD', 409, [string, number, Cause?]>(
  'FST_SHARED_STATE_LOCK_NOT_HELD', 'Lock "%s" is not held by token %d (released, expired or taken over)', 409)

export const SharedStatePersistError = createError<'FST_SHARED_STATE_PERSIST', 500, [string, Cause?]>(
  'FST_SHARED_STATE_PERSIST', 'Shared-state persistence failed: %s', 500)

const ALL_ERRORS = [
  SharedStateOptionsError,
  SharedStateAlreadyRegisteredError,
  SharedStateAuthError,
  SharedStatePortTakenError,
  SharedStateConnectTimeoutError,
  SharedStateTimeoutError,
  SharedStateHostLostError,
  SharedStateFrameTooLargeError,
  SharedStateProtocolError,
  SharedStateUnsupportedValueError,
  SharedStateNotANumberError,
  SharedStateBadPathError,
  SharedStateConflictError,
  SharedStateLockTimeoutError,
  SharedStateLockNotHeldError,
  SharedStatePersistError
] as const

/** Every code, in one list: a test raises each of them. */
export const ERROR_CODES = ALL_ERRORS.map((E) => new E().code)

type AnyErrorConstructor = new () => Error & { code: string }
const BY_CODE = new Map<string, AnyErrorConstructor>(
  ALL_ERRORS.map((E) => [new E().code, E as unknown as AnyErrorConstructor]))

/** True for an error this package created, whatever its code. */
export function isSharedStateError (error: unknown): error is Error & { code: string, statusCode: number } {
  return error instanceof Error && BY_CODE.has((error as { code?: string }).code ?? '')
}

/**
 * The host sends an error back as `[code, message]`; the client rebuilds it here so a caller gets
 * the same class and `code` whether the store is local or remote. An unknown code is a protocol
 * error: the host only sends codes from this file.
 */
export function errorFromWire (code: unknown, message: unknown): Error {
  const ErrorClass = typeof code === 'string' ? BY_CODE.get(code) : undefined
  if (ErrorClass === undefined) return new SharedStateProtocolError(`unknown error code ${String(code)}`)
  const error = new ErrorClass()
  error.message = String(message)
  return error
}

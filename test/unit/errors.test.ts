import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import * as errors from '../../lib/errors'

const { errorFromWire, isSharedStateError } = errors
const ERROR_CODES: readonly string[] = errors.ERROR_CODES

type ErrorConstructor = new (...args: unknown[]) => Error & { code: string, statusCode: number, cause?: unknown }

interface Case {
  make: ErrorConstructor
  args: unknown[]
  message: string
  statusCode: number
}

function row (make: unknown, args: unknown[], statusCode: number, message: string): Case {
  return { make: make as ErrorConstructor, args, statusCode, message }
}

// One row per code: how to raise it, what it says, and the HTTP status a route answers with.
// A code added to errors.ts without a row here fails 'every code has a case'.
const CASES: Record<string, Case> = {
  FST_SHARED_STATE_OPTIONS: row(errors.SharedStateOptionsError, ['"port" is required'], 500,
    'Invalid shared-state option: "port" is required'),
  FST_SHARED_STATE_ALREADY_REGISTERED: row(errors.SharedStateAlreadyRegisteredError, [], 500,
    'fastify-shared-state is already registered on this instance'),
  FST_SHARED_STATE_AUTH: row(errors.SharedStateAuthError, ['wrong key'], 503,
    'Shared-state authentication failed: wrong key'),
  FST_SHARED_STATE_PORT_TAKEN: row(errors.SharedStatePortTakenError, ['127.0.0.1:35791'], 503,
    'Something that does not speak the shared-state protocol holds 127.0.0.1:35791'),
  FST_SHARED_STATE_CONNECT_TIMEOUT: row(errors.SharedStateConnectTimeoutError, ['127.0.0.1:35791', 3000], 503,
    'Could not reach the shared state at 127.0.0.1:35791 within 3000 ms'),
  FST_SHARED_STATE_TIMEOUT: row(errors.SharedStateTimeoutError, ['incr', 5000], 503,
    'Shared-state operation "incr" timed out after 5000 ms'),
  FST_SHARED_STATE_HOST_LOST: row(errors.SharedStateHostLostError, ['connection reset'], 503,
    'The shared-state host is unreachable: connection reset'),
  FST_SHARED_STATE_FRAME_TOO_LARGE: row(errors.SharedStateFrameTooLargeError, [4294967295, 1024], 500,
    'Frame of 4294967295 bytes exceeds the limit of 1024 bytes'),
  FST_SHARED_STATE_PROTOCOL: row(errors.SharedStateProtocolError, ['undecodable frame'], 500,
    'Shared-state protocol error: undecodable frame'),
  FST_SHARED_STATE_UNSUPPORTED_VALUE: row(errors.SharedStateUnsupportedValueError, ['fn', 'a function'], 500,
    'Value for key "fn" cannot be shared: a function'),
  FST_SHARED_STATE_NOT_A_NUMBER: row(errors.SharedStateNotANumberError, ['"name"'], 500,
    'Value at "name" is not a number'),
  FST_SHARED_STATE_BAD_PATH: row(errors.SharedStateBadPathError, ['segment "__proto__" is not allowed'], 500,
    'Bad path: segment "__proto__" is not allowed'),
  FST_SHARED_STATE_CONFLICT: row(errors.SharedStateConflictError, ['counter', 100], 409,
    'Key "counter" kept changing; gave up after 100 retries'),
  FST_SHARED_STATE_LOCK_TIMEOUT: row(errors.SharedStateLockTimeoutError, ['default', 1000], 503,
    'Lock "default" was not acquired within 1000 ms'),
  FST_SHARED_STATE_LOCK_NOT_HELD: row(errors.SharedStateLockNotHeldError, ['default', 7], 409,
    'Lock "default" is not held by token 7 (released, expired or taken over)'),
  FST_SHARED_STATE_PERSIST: row(errors.SharedStatePersistError, ['state.log: corrupt record at offset 12'], 500,
    'Shared-state persistence failed: state.log: corrupt record at offset 12')
}

/** The codes API.md promises, in its order. */
const API_CODES = [
  'OPTIONS', 'ALREADY_REGISTERED', 'AUTH', 'PORT_TAKEN', 'CONNECT_TIMEOUT', 'TIMEOUT', 'HOST_LOST',
  'FRAME_TOO_LARGE', 'PROTOCOL', 'UNSUPPORTED_VALUE', 'NOT_A_NUMBER', 'BAD_PATH', 'CONFLICT',
  'LOCK_TIMEOUT', 'LOCK_NOT_HELD', 'PERSIST'
].map((name) => `FST_SHARED_STATE_${name}`)

/** Every export of errors.ts that constructs an Error. */
function exportedErrorConstructors (): Array<[string, ErrorConstructor]> {
  return Object.entries(errors)
    .filter(([, value]) => typeof value === 'function' && (value as { prototype?: unknown }).prototype instanceof Error)
    .map(([name, value]) => [name, value as ErrorConstructor])
}

function sourceFiles (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return path.endsWith('.ts') || path.endsWith('.mts') ? [path] : []
  })
}

describe('the list of codes', () => {
  test('ERROR_CODES is exactly the codes of API.md', () => {
    expect([...ERROR_CODES].sort()).toEqual([...API_CODES].sort())
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length)
  })

  test('every code has a case in this test', () => {
    expect(Object.keys(CASES).sort()).toEqual([...ERROR_CODES].sort())
  })

  test('every error constructor exported by errors.ts is in ERROR_CODES', () => {
    const constructors = exportedErrorConstructors()
    expect(constructors.length).toBeGreaterThan(0)
    const codes = constructors.map(([name, Make]) => [name, new Make().code])
    for (const [name, code] of codes) {
      expect([name, ERROR_CODES.includes(code as string)]).toEqual([name, true])
    }
    // And one constructor per code: none is listed twice, none is missing from the exports.
    expect(codes.map(([, code]) => code).sort()).toEqual([...ERROR_CODES].sort())
  })

  test('every FST_SHARED_STATE_* code mentioned anywhere in lib/ is in ERROR_CODES', () => {
    const libDir = join(__dirname, '..', '..', 'lib')
    const mentioned = new Map<string, string>()
    for (const file of sourceFiles(libDir)) {
      for (const match of readFileSync(file, 'utf8').matchAll(/FST_SHARED_STATE_[A-Z_]*[A-Z]/g)) {
        mentioned.set(match[0], file.slice(libDir.length + 1))
      }
    }
    const unknown = [...mentioned].filter(([code]) => !ERROR_CODES.includes(code))
    expect(unknown).toEqual([])
  })
})

describe.each(Object.entries(CASES))('%s', (code, { make: Make, args, message, statusCode }) => {
  test('has its code, status and message', () => {
    const error = new Make(...args)
    expect(error).toBeInstanceOf(Error)
    expect(error).toBeInstanceOf(Make)
    expect(error.code).toBe(code)
    expect(error.statusCode).toBe(statusCode)
    expect(error.message).toBe(message)
    expect(isSharedStateError(error)).toBe(true)
  })

  test('keeps a { cause }', () => {
    const cause = Object.assign(new Error('ECONNRESET'), { code: 'ECONNRESET' })
    const error = new Make(...args, { cause })
    expect(error.cause).toBe(cause)
    expect(error.message).toBe(message)
    expect(error.code).toBe(code)
  })

  test('errorFromWire rebuilds the same class with the message sent', () => {
    const sent = new Make(...args)
    const rebuilt = errorFromWire(sent.code, sent.message) as Error & { code: string, statusCode: number }
    expect(Object.getPrototypeOf(rebuilt)).toBe(Make.prototype)
    expect(rebuilt.code).toBe(code)
    expect(rebuilt.statusCode).toBe(statusCode)
    expect(rebuilt.message).toBe(message)
  })
})

describe('errorFromWire with a code it does not know', () => {
  test.each([
    ['an unknown code', 'FST_SHARED_STATE_NOPE', 'unknown error code FST_SHARED_STATE_NOPE'],
    ['another package\'s code', 'ECONNRESET', 'unknown error code ECONNRESET'],
    ['a number', 42, 'unknown error code 42'],
    ['null', null, 'unknown error code null'],
    ['an inherited property name', 'constructor', 'unknown error code constructor']
  ])('%s becomes FST_SHARED_STATE_PROTOCOL', (_name, code, message) => {
    const error = errorFromWire(code, 'whatever the peer said') as Error & { code: string, statusCode: number }
    expect(error).toBeInstanceOf(errors.SharedStateProtocolError)
    expect(error.code).toBe('FST_SHARED_STATE_PROTOCOL')
    expect(error.statusCode).toBe(500)
    expect(error.message).toBe(`Shared-state protocol error: ${message}`)
  })

  test('a message that is not a string is turned into one', () => {
    expect(errorFromWire('FST_SHARED_STATE_AUTH', 17).message).toBe('17')
  })
})

describe('isSharedStateError', () => {
  test('false for anything this package did not create', () => {
    expect(isSharedStateError(new Error('plain'))).toBe(false)
    expect(isSharedStateError(Object.assign(new Error('other'), { code: 'FST_ERR_VALIDATION' }))).toBe(false)
    expect(isSharedStateError({ code: 'FST_SHARED_STATE_AUTH', message: 'not an Error' })).toBe(false)
    expect(isSharedStateError(null)).toBe(false)
    expect(isSharedStateError('FST_SHARED_STATE_AUTH')).toBe(false)
  })
})

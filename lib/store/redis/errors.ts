import { isSharedStateError, SharedStateHostLostError, SharedStateProtocolError } from '../../errors'

// Redis answers with these while it cannot serve right now (starting, a replica, a busy script):
// like a lost connection, a later retry may succeed.
const UNAVAILABLE = /^(LOADING|READONLY|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN)\b/

/**
 * Turns what ioredis rejects with into one of the package's coded errors, keeping the original as
 * `cause`: a refused connection or a dropped socket is HOST_LOST (503), a command Redis refused
 * for another reason is PROTOCOL (500).
 */
export function fromRedisError (error: unknown, where: string): Error {
  if (isSharedStateError(error)) return error
  const message = error instanceof Error ? error.message : String(error)
  if (error instanceof Error && error.name === 'ReplyError' && !UNAVAILABLE.test(message)) {
    return new SharedStateProtocolError(`Redis at ${where} refused a command: ${message}`, { cause: error })
  }
  if (error instanceof Error && error.name === 'MaxRetriesPerRequestError') {
    // How ioredis fails the commands in flight when the connection drops (see backend.ts).
    return new SharedStateHostLostError(`Redis at ${where}: the connection dropped before the answer; ` +
      'the call may or may not have been applied', { cause: error })
  }
  return new SharedStateHostLostError(`Redis at ${where}: ${message}`, { cause: error })
}

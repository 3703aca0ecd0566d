// The ES module entry: the same objects as the CommonJS build, so `import` and `require` in one
// process share one plugin, and `import sharedState from 'fastify-shared-state'` is the plugin.
import cjs from './index.js'

export const sharedState = cjs.sharedState
export default cjs.sharedState
export const {
  SharedStateOptionsError, SharedStateAlreadyRegisteredError, SharedStateAuthError,
  SharedStatePortTakenError, SharedStateConnectTimeoutError, SharedStateTimeoutError,
  SharedStateHostLostError, SharedStateFrameTooLargeError, SharedStateProtocolError,
  SharedStateUnsupportedValueError, SharedStateNotANumberError, SharedStateBadPathError,
  SharedStateConflictError, SharedStateLockTimeoutError, SharedStateLockNotHeldError,
  SharedStatePersistError, ERROR_CODES, isSharedStateError, errorFromWire,
  sharedRateLimitStore, SharedSessionStore
} = cjs
export type * from './index.js'

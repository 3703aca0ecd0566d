import { sharedStatePlugin } from './plugin'

export { sharedStatePlugin as sharedState }
export default sharedStatePlugin

export type { SharedMap, SetOptions, ScanOptions, UpdateOptions, SharedChangeEvent, Unsubscribe } from './api/shared-map'
export type { SharedLock, LockHandle, LockOptions } from './api/shared-lock'
export type { SharedStateOptions, PersistOptions, FsyncPolicy, TlsCertificates } from './options'
export type { Role, Path } from './store/store'
export * from './errors'
export { sharedRateLimitStore } from './ecosystem/rate-limit-store'
export type { RateLimitStore, RateLimitStoreClass, SharedRateLimitStoreOptions } from './ecosystem/rate-limit-store'
export { SharedSessionStore } from './ecosystem/session-store'
export type { SharedSessionStoreOptions } from './ecosystem/session-store'
export type { StoreStats } from './store/store'

import { sharedStatePlugin } from './plugin'

export { sharedStatePlugin as sharedState }
export default sharedStatePlugin

export type { SharedMap, SetOptions, UpdateOptions, SharedChangeEvent, Unsubscribe } from './api/shared-map'
export type { SharedLock, LockHandle, LockOptions } from './api/shared-lock'
export type { SharedStateOptions, PersistOptions, FsyncPolicy } from './options'
export type { Role, Path } from './store/store'
export * from './errors'

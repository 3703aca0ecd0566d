export { ChangeLog, type ChangeLogStats, type LoadedLog } from './change-log'

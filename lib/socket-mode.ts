import type { LinkLog, LinkSettings } from './client/host-link'
import { newClientId } from './election'
import { claimedByTheDead } from './host/persistence/owner-lock'
import { closeEngine, openEngine } from './host/persistence/state-journal'
import type { ParsedOptions } from './options'
import type { ValueCodec } from './protocol/codec'
import { MemoryState } from './store/memory/state'
import { TlsTransport } from './tls-transport'

/** What a worker's HostLink needs in socket mode, from the parsed options: one place for both. */
export function linkSettings (options: ParsedOptions, codec: ValueCodec, log: LinkLog): LinkSettings {
  return {
    endpoint: options.endpoint,
    key: options.key,
    maxFrameBytes: options.maxFrameBytes,
    timeout: options.timeout,
    connectTimeout: options.connectTimeout,
    handshakeTimeout: options.handshakeTimeout,
    maxConnections: options.maxConnections,
    maxHandshakes: options.maxHandshakes,
    clientId: newClientId(),
    info: { pid: process.pid },
    tls: options.tls === undefined ? undefined : new TlsTransport(options.tls, options.key),
    warn: log.warn,
    log,
    openEngine: (handedOver, progress) => openEngine(codec, options.persist, handedOver, log, progress ?? loadProgress(log)),
    closeEngine,
    lastHostDied: lastHostDied(options.persist?.file),
    newState: () => new MemoryState(codec)
  }
}

/** With a change log, whether the last host died holding it (see electHost). */
function lastHostDied (file: string | undefined): LinkSettings['lastHostDied'] {
  if (file === undefined) return undefined
  return async () => await claimedByTheDead(file)
}

// A long load says how far it got at most this often.
const LOAD_LOG_MS = 1000

/** Logs, at most once a second, how many keys a host opening its log has loaded so far. */
function loadProgress (log: LinkLog): (keys: number) => void {
  let logged = Date.now()
  return (keys) => {
    if (Date.now() - logged < LOAD_LOG_MS) return
    logged = Date.now()
    log.info(`shared state: loaded ${keys} keys of the persisted state so far`)
  }
}

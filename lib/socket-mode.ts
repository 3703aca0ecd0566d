import type { LinkLog, LinkSettings } from './client/host-link'
import { newClientId } from './election'
import { closeEngine, openEngine } from './host/persistence/state-journal'
import type { ParsedOptions } from './options'
import type { ValueCodec } from './protocol/codec'
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
    openEngine: (handedOver) => openEngine(codec, options.persist, handedOver, log),
    closeEngine
  }
}

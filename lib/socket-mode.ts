import type { LinkLog, LinkSettings } from './client/host-link'
import { newClientId } from './election'
import { closeEngine, openEngine } from './host/persistence/state-journal'
import type { ParsedOptions } from './options'
import type { ValueCodec } from './protocol/codec'

/** What a worker's HostLink needs in socket mode, from the parsed options: one place for both. */
export function linkSettings (options: ParsedOptions, codec: ValueCodec, log: LinkLog): LinkSettings {
  return {
    endpoint: options.endpoint,
    key: options.key,
    maxFrameBytes: options.maxFrameBytes,
    timeout: options.timeout,
    connectTimeout: options.connectTimeout,
    handshakeTimeout: options.handshakeTimeout,
    clientId: newClientId(),
    info: { pid: process.pid },
    log,
    openEngine: (handedOver) => openEngine(codec, options.persist, handedOver, log),
    closeEngine
  }
}

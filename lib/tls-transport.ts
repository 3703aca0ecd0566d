import { createHmac } from 'node:crypto'
import type { Socket } from 'node:net'
import { connect, createSecureContext, TLSSocket, type SecureContext, type TLSSocketOptions } from 'node:tls'
import type { TlsSetting } from './options'

// TLS-PSK exists in Node for TLS 1.2 only. The ECDHE variant gives forward secrecy: a key that
// leaks later does not decrypt what was recorded before.
const PSK_CIPHERS = 'ECDHE-PSK-CHACHA20-POLY1305'
const PSK_IDENTITY = 'fastify-shared-state'
const PSK_LABEL = 'fastify-shared-state tls-psk v1'

/**
 * The manager socket under `tls`: each accepted or opened socket is wrapped in a TLS session,
 * keyed either by a pre-shared key derived from `key` (no certificates to make), or by
 * certificates that must chain to the given CA on both sides. Built once per worker; the secure
 * contexts are reused by every connection.
 */
export class TlsTransport {
  readonly #setting: TlsSetting
  readonly #psk: Buffer
  readonly #server: SecureContext
  readonly #client: SecureContext

  constructor (setting: TlsSetting, key: Buffer) {
    this.#setting = setting
    // A label of its own, so that the PSK and the handshake's HMAC key are never the same bytes.
    this.#psk = createHmac('sha256', key).update(PSK_LABEL).digest()
    if (setting.kind === 'psk') {
      const options = { ciphers: PSK_CIPHERS, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const
      this.#server = createSecureContext(options)
      this.#client = createSecureContext(options)
    } else {
      const options = { cert: setting.cert, key: setting.key, ca: setting.ca, minVersion: 'TLSv1.2' } as const
      this.#server = createSecureContext(options)
      this.#client = createSecureContext(options)
    }
  }

  /** The host's side of an accepted socket; 'secure' fires once the peer is verified. */
  accept (socket: Socket): TLSSocket {
    if (this.#setting.kind === 'psk') {
      // Node reads pskCallback on a server-side TLSSocket too; its types list it for servers only.
      const options: TLSSocketOptions & { pskCallback: (socket: TLSSocket, identity: string) => Buffer | null } = {
        isServer: true,
        secureContext: this.#server,
        pskCallback: (_socket, identity) => identity === PSK_IDENTITY ? this.#psk : null
      }
      return new TLSSocket(socket, options)
    }
    return new TLSSocket(socket, { isServer: true, secureContext: this.#server, requestCert: true, rejectUnauthorized: true })
  }

  /**
   * The worker's side; 'secureConnect' fires once the host is verified. Host names are not
   * checked: a certificate is trusted for chaining to the CA given, which is the deployment's own.
   */
  connect (socket: Socket): TLSSocket {
    if (this.#setting.kind === 'psk') {
      return connect({
        socket,
        secureContext: this.#client,
        ciphers: PSK_CIPHERS,
        checkServerIdentity: () => undefined,
        pskCallback: () => ({ psk: this.#psk, identity: PSK_IDENTITY })
      })
    }
    return connect({ socket, secureContext: this.#client, checkServerIdentity: () => undefined })
  }
}

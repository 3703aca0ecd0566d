import { isIP } from 'node:net'
import { SharedStateOptionsError } from './errors'

/** How the host makes its change log durable; see the README's "Failure modes". */
export type FsyncPolicy = 'always' | 'everysec' | 'no'

export interface PersistOptions {
  /** The log file; a new host, or the next start of the app, loads it. */
  file: string
  /** @default 'everysec' */
  fsync?: FsyncPolicy
}

/**
 * The subset of an ioredis client the Redis store relies on (it opens duplicates of it). Method
 * syntax on purpose: its parameters compare bivariantly, so an ioredis `Redis` (whose `duplicate`
 * takes `Partial<RedisOptions>`) and `fastify.redis` are assignable without a cast.
 */
export interface RedisClientLike {
  duplicate (override?: object): unknown
  quit (): Promise<unknown>
  status?: string
}

/** Certificates for `tls`: this worker's certificate and key, and the CA every peer's must chain to. */
export interface TlsCertificates {
  cert: string | Buffer
  key: string | Buffer
  ca: string | Buffer
}

/** `tls` as parsed: a PSK derived from `key`, or certificates. */
export type TlsSetting =
  | { readonly kind: 'psk' }
  | { readonly kind: 'certificates', readonly cert: string | Buffer, readonly key: string | Buffer, readonly ca: string | Buffer }

export interface SharedStateOptions {
  /** Shared secret (socket mode). Empty is an error; under 16 bytes logs a warning. Never logged. */
  key?: string | Buffer
  /** TCP port of the manager socket; required unless `path` or `redis` is given. */
  port?: number
  /**
   * Interface the manager socket binds and clients connect to.
   * @default '127.0.0.1'
   */
  host?: string
  /** A unix socket path instead of `host`/`port`. */
  path?: string
  /**
   * Values set only where the key is absent, so a worker that starts late never resets state.
   * @default {}
   */
  defaults?: Record<string, unknown>
  /**
   * Milliseconds before an operation rejects with `FST_SHARED_STATE_TIMEOUT`. On the host, also
   * how long past an acquire's deadline a free lock is still granted, and (three times it) how
   * long a gone worker's replies are kept for its retries: give every worker the same value.
   * @default 5000
   */
  timeout?: number
  /**
   * Milliseconds for election, connection and authentication at registration.
   * @default 3000
   */
  connectTimeout?: number
  /**
   * Milliseconds an unauthenticated peer has to finish the handshake.
   * @default 5000
   */
  handshakeTimeout?: number
  /**
   * Largest frame accepted after authentication; a larger one is refused before it is buffered.
   * @default 16777216 (16 MiB)
   */
  maxFrameBytes?: number
  /**
   * Encrypts the manager socket: `true` for TLS-PSK keyed from `key` (no certificates), or
   * certificates. Every worker of one state must use the same setting.
   */
  tls?: boolean | TlsCertificates
  /**
   * Connections the host keeps open in all, authenticated or not; more are closed at once.
   * @default 512
   */
  maxConnections?: number
  /**
   * Connections the host keeps open that have not yet authenticated; at the cap, the oldest of
   * them is closed to make room, so a worker arriving during a flood still gets in.
   * @default 64
   */
  maxHandshakes?: number
  /** Log every change to a file so a new host, or the next start, loads it. */
  persist?: PersistOptions
  /** A Redis URL or an ioredis client: the state lives in Redis, no manager socket. */
  redis?: string | RedisClientLike
  /**
   * Key namespace in Redis mode.
   * @default 'shared-state:'
   */
  prefix?: string
}

export const DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  timeout: 5000,
  connectTimeout: 3000,
  handshakeTimeout: 5000,
  maxFrameBytes: 16 * 1024 * 1024,
  maxConnections: 512,
  maxHandshakes: 64,
  prefix: 'shared-state:',
  fsync: 'everysec' as FsyncPolicy
})

/** Where the manager socket lives: a TCP address or a unix socket path. */
export type Endpoint =
  | { readonly kind: 'tcp', readonly host: string, readonly port: number }
  | { readonly kind: 'unix', readonly path: string }

export interface ParsedOptions {
  readonly mode: 'socket' | 'redis'
  readonly key: Buffer
  readonly endpoint: Endpoint
  readonly defaults: Readonly<Record<string, unknown>>
  readonly timeout: number
  readonly connectTimeout: number
  readonly handshakeTimeout: number
  readonly maxFrameBytes: number
  readonly tls: TlsSetting | undefined
  readonly maxConnections: number
  readonly maxHandshakes: number
  readonly persist: Readonly<Required<PersistOptions>> | undefined
  readonly redis: string | RedisClientLike | undefined
  readonly prefix: string
  /** Things worth a warning at registration (short key, non-loopback host). */
  readonly warnings: readonly string[]
}

const KNOWN = new Set([
  'key', 'port', 'host', 'path', 'defaults', 'timeout', 'connectTimeout', 'handshakeTimeout',
  'maxFrameBytes', 'tls', 'maxConnections', 'maxHandshakes', 'persist', 'redis', 'prefix'
])

function fail (message: string): never {
  throw new SharedStateOptionsError(message)
}

function positiveInteger (name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    fail(`"${name}" must be a positive integer number of ms or bytes, got ${describe(value)}`)
  }
  return value
}

function describe (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (value === null || typeof value !== 'object') return String(value)
  return Array.isArray(value) ? 'an array' : 'an object'
}

function parseKey (value: unknown, warnings: string[]): Buffer {
  if (value === undefined) fail('"key" is required: the shared secret every worker authenticates with')
  if (typeof value !== 'string' && !Buffer.isBuffer(value)) fail('"key" must be a string or a Buffer')
  const key = Buffer.from(value)
  if (key.length === 0) fail('"key" must not be empty')
  if (key.length < 16) warnings.push('shared state: the key is shorter than 16 bytes; use a long random secret')
  return key
}

function parseEndpoint (raw: SharedStateOptions, warnings: string[], encrypted: boolean): Endpoint {
  if (raw.path !== undefined) {
    if (typeof raw.path !== 'string' || raw.path.length === 0) fail('"path" must be a non-empty string')
    if (raw.port !== undefined) fail('"path" and "port" exclude each other: give one')
    return Object.freeze({ kind: 'unix', path: raw.path })
  }
  if (raw.port === undefined) fail('"port" is required unless "path" or "redis" is given')
  if (typeof raw.port !== 'number' || !Number.isInteger(raw.port) || raw.port < 1 || raw.port > 65535) {
    fail(`"port" must be an integer from 1 to 65535, got ${describe(raw.port)}`)
  }
  const host = raw.host ?? DEFAULTS.host
  if (typeof host !== 'string' || host.length === 0) fail('"host" must be a non-empty string')
  if (!isLoopback(host) && !encrypted) {
    warnings.push(`shared state: host ${host} is not loopback and "tls" is off; the key authenticates peers but nothing is encrypted`)
  }
  return Object.freeze({ kind: 'tcp', host, port: raw.port })
}

export function isLoopback (host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

function parseTls (value: unknown): TlsSetting | undefined {
  if (value === undefined || value === false) return undefined
  if (value === true) return Object.freeze({ kind: 'psk' })
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail('"tls" must be true or an object { cert, key, ca }')
  }
  const { cert, key, ca, ...rest } = value as TlsCertificates
  const unknown = Object.keys(rest)
  if (unknown.length > 0) fail(`"tls.${unknown[0]}" is not an option`)
  for (const [name, part] of [['cert', cert], ['key', key], ['ca', ca]] as const) {
    if ((typeof part !== 'string' || part.length === 0) && !Buffer.isBuffer(part)) {
      fail(`"tls.${name}" must be a PEM string or Buffer`)
    }
  }
  return Object.freeze({ kind: 'certificates', cert, key, ca })
}

function parsePersist (value: unknown): Readonly<Required<PersistOptions>> | undefined {
  if (value === undefined) return undefined
  if (value === null || typeof value !== 'object') fail('"persist" must be an object { file, fsync }')
  const { file, fsync = DEFAULTS.fsync, ...rest } = value as PersistOptions
  const unknown = Object.keys(rest)
  if (unknown.length > 0) fail(`"persist.${unknown[0]}" is not an option`)
  if (typeof file !== 'string' || file.length === 0) fail('"persist.file" must be a non-empty string')
  if (fsync !== 'always' && fsync !== 'everysec' && fsync !== 'no') {
    fail(`"persist.fsync" must be 'always', 'everysec' or 'no', got ${describe(fsync)}`)
  }
  return Object.freeze({ file, fsync })
}

function parseRedis (value: unknown): string | RedisClientLike | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'string') {
    if (!/^rediss?:\/\//.test(value)) fail('"redis" must be a redis:// or rediss:// URL or an ioredis client')
    return value
  }
  if (value !== null && typeof value === 'object' && typeof (value as RedisClientLike).duplicate === 'function') {
    return value as RedisClientLike
  }
  fail('"redis" must be a redis:// URL or an ioredis client')
}

function parseDefaults (value: unknown): Readonly<Record<string, unknown>> {
  if (value === undefined) return Object.freeze({})
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail('"defaults" must be a plain object of key -> initial value')
  }
  return Object.freeze({ ...(value as Record<string, unknown>) })
}

/** Validates the user's options once, at registration, into one frozen object. */
export function parseOptions (input: unknown): ParsedOptions {
  if (input === null || typeof input !== 'object') fail('options must be an object')
  const raw = input as SharedStateOptions
  for (const name of Object.keys(raw)) {
    if (!KNOWN.has(name)) fail(`"${name}" is not an option`)
  }
  const warnings: string[] = []
  const redis = parseRedis(raw.redis)
  const mode = redis === undefined ? 'socket' : 'redis'
  if (mode === 'redis' && (raw.port !== undefined || raw.path !== undefined)) {
    fail('"redis" excludes "port" and "path": Redis mode has no manager socket')
  }
  if (mode === 'socket' && raw.prefix !== undefined) fail('"prefix" applies only with "redis"')
  if (mode === 'redis') {
    for (const name of ['key', 'host', 'persist', 'maxFrameBytes', 'handshakeTimeout', 'tls', 'maxConnections', 'maxHandshakes'] as const) {
      if (raw[name] !== undefined) fail(`"${name}" applies only to the manager socket, not with "redis"`)
    }
  }
  if (raw.prefix !== undefined && (typeof raw.prefix !== 'string')) fail('"prefix" must be a string')
  const key = mode === 'socket' ? parseKey(raw.key, warnings) : Buffer.alloc(0)
  const tls = parseTls(raw.tls)
  const endpoint: Endpoint = mode === 'socket'
    ? parseEndpoint(raw, warnings, tls !== undefined)
    : Object.freeze({ kind: 'tcp', host: '', port: 0 })
  const maxConnections = positiveInteger('maxConnections', raw.maxConnections, DEFAULTS.maxConnections)
  const maxHandshakes = positiveInteger('maxHandshakes', raw.maxHandshakes, Math.min(DEFAULTS.maxHandshakes, maxConnections))
  if (maxHandshakes > maxConnections) fail('"maxHandshakes" must not exceed "maxConnections"')
  return Object.freeze({
    mode,
    key,
    endpoint,
    defaults: parseDefaults(raw.defaults),
    timeout: positiveInteger('timeout', raw.timeout, DEFAULTS.timeout),
    connectTimeout: positiveInteger('connectTimeout', raw.connectTimeout, DEFAULTS.connectTimeout),
    handshakeTimeout: positiveInteger('handshakeTimeout', raw.handshakeTimeout, DEFAULTS.handshakeTimeout),
    maxFrameBytes: positiveInteger('maxFrameBytes', raw.maxFrameBytes, DEFAULTS.maxFrameBytes),
    tls,
    maxConnections,
    maxHandshakes,
    persist: parsePersist(raw.persist),
    redis,
    prefix: raw.prefix ?? DEFAULTS.prefix,
    warnings: Object.freeze(warnings)
  })
}

export function describeEndpoint (endpoint: Endpoint): string {
  // An abstract unix socket's name starts with a NUL byte, which ss and netstat show as '@'.
  return endpoint.kind === 'unix' ? endpoint.path.replace(/^\0/, '@') : `${endpoint.host}:${endpoint.port}`
}

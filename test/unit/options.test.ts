import { DEFAULTS, describeEndpoint, parseOptions } from '../../lib/options'
import { SharedStateOptionsError } from '../../lib/errors'

const KEY = 'a-long-enough-shared-secret-key!'

function optionsError (input: unknown): Error & { code?: string } {
  try {
    parseOptions(input)
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('expected parseOptions to throw')
}

/** The option fails with FST_SHARED_STATE_OPTIONS and a message naming it. */
function expectRefused (input: unknown, message: string): void {
  const error = optionsError(input)
  expect(error).toBeInstanceOf(SharedStateOptionsError)
  expect(error.code).toBe('FST_SHARED_STATE_OPTIONS')
  expect(error.message).toBe(`Invalid shared-state option: ${message}`)
}

/** For refusals whose wording is not settled yet: the code, and the option named in quotes. */
function expectRefusedNaming (input: unknown, option: string): void {
  const error = optionsError(input)
  expect(error).toBeInstanceOf(SharedStateOptionsError)
  expect(error.code).toBe('FST_SHARED_STATE_OPTIONS')
  expect(error.message).toContain(`"${option}"`)
}

const fakeRedisClient = { duplicate: () => ({}), quit: async () => 'OK' }

describe('defaults', () => {
  test('socket mode with only key and port', () => {
    const parsed = parseOptions({ key: KEY, port: 35791 })
    expect(parsed).toEqual({
      mode: 'socket',
      key: Buffer.from(KEY),
      endpoint: { kind: 'tcp', host: '127.0.0.1', port: 35791 },
      defaults: {},
      timeout: 5000,
      connectTimeout: 3000,
      handshakeTimeout: 5000,
      maxFrameBytes: 16 * 1024 * 1024,
      tls: undefined,
      maxConnections: 512,
      maxHandshakes: 64,
      persist: undefined,
      redis: undefined,
      prefix: 'shared-state:',
      warnings: []
    })
    expect(describeEndpoint(parsed.endpoint)).toBe('127.0.0.1:35791')
  })

  test('DEFAULTS are frozen and match API.md', () => {
    expect(Object.isFrozen(DEFAULTS)).toBe(true)
    expect(DEFAULTS).toEqual({
      host: '127.0.0.1',
      timeout: 5000,
      connectTimeout: 3000,
      handshakeTimeout: 5000,
      maxFrameBytes: 16 * 1024 * 1024,
      maxConnections: 512,
      maxHandshakes: 64,
      prefix: 'shared-state:',
      fsync: 'everysec'
    })
  })

  test('a unix socket path instead of host and port', () => {
    const parsed = parseOptions({ key: KEY, path: '/tmp/shared.sock' })
    expect(parsed.endpoint).toEqual({ kind: 'unix', path: '/tmp/shared.sock' })
    expect(describeEndpoint(parsed.endpoint)).toBe('/tmp/shared.sock')
  })

  test('every option given explicitly is kept', () => {
    const parsed = parseOptions({
      key: Buffer.from(KEY),
      port: 1,
      host: 'localhost',
      defaults: { number: 0 },
      timeout: 10,
      connectTimeout: 20,
      handshakeTimeout: 30,
      maxFrameBytes: 40,
      persist: { file: '/tmp/state.log', fsync: 'always' }
    })
    expect(parsed.endpoint).toEqual({ kind: 'tcp', host: 'localhost', port: 1 })
    expect(parsed.defaults).toEqual({ number: 0 })
    expect([parsed.timeout, parsed.connectTimeout, parsed.handshakeTimeout, parsed.maxFrameBytes]).toEqual([10, 20, 30, 40])
    expect(parsed.persist).toEqual({ file: '/tmp/state.log', fsync: 'always' })
  })

  test('persist without fsync defaults to everysec', () => {
    expect(parseOptions({ key: KEY, port: 1, persist: { file: 'state.log' } }).persist).toEqual({ file: 'state.log', fsync: 'everysec' })
  })

  test('redis mode: a URL or a client, no key needed, prefix defaulted or given', () => {
    const byUrl = parseOptions({ redis: 'redis://127.0.0.1:6379' })
    expect(byUrl.mode).toBe('redis')
    expect(byUrl.redis).toBe('redis://127.0.0.1:6379')
    expect(byUrl.prefix).toBe('shared-state:')
    expect(parseOptions({ redis: 'rediss://secure:6380/2', prefix: 'app:' }).prefix).toBe('app:')
    const byClient = parseOptions({ redis: fakeRedisClient })
    expect(byClient.redis).toBe(fakeRedisClient)
  })
})

describe('the result is frozen', () => {
  test('the object and everything nested in it', () => {
    const parsed = parseOptions({ key: KEY, port: 1, defaults: { a: 1 }, persist: { file: 'f' } })
    expect(Object.isFrozen(parsed)).toBe(true)
    expect(Object.isFrozen(parsed.endpoint)).toBe(true)
    expect(Object.isFrozen(parsed.defaults)).toBe(true)
    expect(Object.isFrozen(parsed.persist)).toBe(true)
    expect(Object.isFrozen(parsed.warnings)).toBe(true)
    expect(() => { (parsed as { timeout: number }).timeout = 1 }).toThrow(TypeError)
  })

  test('later changes to the caller\'s objects do not reach the parsed options', () => {
    const key = Buffer.from(KEY)
    const defaults: Record<string, unknown> = { a: 1 }
    const parsed = parseOptions({ key, port: 1, defaults })
    key.fill(0)
    defaults.b = 2
    expect(parsed.key).toEqual(Buffer.from(KEY))
    expect(parsed.defaults).toEqual({ a: 1 })
  })
})

describe('warnings', () => {
  test('a key shorter than 16 bytes warns, without showing the key', () => {
    const parsed = parseOptions({ key: 'short-secret', port: 1 })
    expect(parsed.warnings).toEqual(['shared state: the key is shorter than 16 bytes; use a long random secret'])
    expect(parsed.warnings.join(' ')).not.toContain('short-secret')
  })

  test('a key of exactly 16 bytes does not warn; length counts bytes, not characters', () => {
    expect(parseOptions({ key: 'x'.repeat(16), port: 1 }).warnings).toEqual([])
    // 8 characters, 16 bytes in UTF-8.
    expect(parseOptions({ key: 'ßßßßßßßß', port: 1 }).warnings).toEqual([])
  })

  test.each(['0.0.0.0', '10.0.0.5', '192.168.1.20', 'example.com', '::'])('host %s (not loopback) warns', (host) => {
    expect(parseOptions({ key: KEY, port: 1, host }).warnings).toEqual([
      `shared state: host ${host} is not loopback and "tls" is off; the key authenticates peers but nothing is encrypted`
    ])
  })

  test.each(['127.0.0.1', '127.1.2.3', 'localhost', '::1'])('host %s (loopback) does not warn', (host) => {
    expect(parseOptions({ key: KEY, port: 1, host }).warnings).toEqual([])
  })

  test('a non-loopback host with tls does not warn', () => {
    expect(parseOptions({ key: KEY, port: 1, host: '10.0.0.5', tls: true }).warnings).toEqual([])
  })

  test('both warnings at once', () => {
    expect(parseOptions({ key: 'k', port: 1, host: '0.0.0.0' }).warnings).toHaveLength(2)
  })
})

describe('each bad option is refused, naming it', () => {
  test.each([
    ['null', null],
    ['a string', 'key=abc'],
    ['undefined', undefined]
  ])('options that are %s', (_name, input) => {
    expectRefused(input, 'options must be an object')
  })

  test('an unknown option', () => {
    expectRefused({ key: KEY, port: 1, prot: 2 }, '"prot" is not an option')
    expectRefused({ key: KEY, port: 1, maxFrameSize: 2 }, '"maxFrameSize" is not an option')
  })

  test('a missing key', () => {
    expectRefused({ port: 1 }, '"key" is required: the shared secret every worker authenticates with')
  })

  test('an empty key, string or Buffer', () => {
    expectRefused({ key: '', port: 1 }, '"key" must not be empty')
    expectRefused({ key: Buffer.alloc(0), port: 1 }, '"key" must not be empty')
  })

  test.each([
    ['a number', 12345],
    ['an array', ['secret']],
    ['an object', { secret: 'x' }],
    ['a Uint8Array', new Uint8Array(20)],
    ['null', null]
  ])('a key that is %s', (_name, key) => {
    expectRefused({ key, port: 1 }, '"key" must be a string or a Buffer')
  })

  test('a missing port', () => {
    expectRefused({ key: KEY }, '"port" is required unless "path" or "redis" is given')
  })

  test.each([
    ['0', 0, '0'],
    ['65536', 65536, '65536'],
    ['negative', -1, '-1'],
    ['fractional', 80.5, '80.5'],
    ['a string', '8080', '"8080"'],
    ['NaN', NaN, 'NaN'],
    ['null', null, 'null']
  ])('a port that is %s', (_name, port, shown) => {
    expectRefused({ key: KEY, port }, `"port" must be an integer from 1 to 65535, got ${shown}`)
  })

  test('port and path together', () => {
    expectRefused({ key: KEY, port: 1, path: '/tmp/s.sock' }, '"path" and "port" exclude each other: give one')
  })

  test('an empty or non-string path', () => {
    expectRefused({ key: KEY, path: '' }, '"path" must be a non-empty string')
    expectRefused({ key: KEY, path: 5 }, '"path" must be a non-empty string')
  })

  test('an empty or non-string host', () => {
    expectRefused({ key: KEY, port: 1, host: '' }, '"host" must be a non-empty string')
    expectRefused({ key: KEY, port: 1, host: 127001 }, '"host" must be a non-empty string')
  })

  test.each(['timeout', 'connectTimeout', 'handshakeTimeout', 'maxFrameBytes', 'maxConnections', 'maxHandshakes'])('%s: zero, negative, fractional, non-number', (name) => {
    for (const [value, shown] of [[0, '0'], [-5, '-5'], [1.5, '1.5'], ['1000', '"1000"'], [NaN, 'NaN'], [Infinity, 'Infinity'], [null, 'null'], [[1], 'an array']] as Array<[unknown, string]>) {
      expectRefused({ key: KEY, port: 1, [name]: value }, `"${name}" must be a positive integer number of ms or bytes, got ${shown}`)
    }
  })

  test.each([
    ['a string', 'state.log', '"persist" must be an object { file, fsync }'],
    ['null', null, '"persist" must be an object { file, fsync }'],
    ['without file', {}, '"persist.file" must be a non-empty string'],
    ['with an empty file', { file: '' }, '"persist.file" must be a non-empty string'],
    ['with a numeric file', { file: 1 }, '"persist.file" must be a non-empty string'],
    ['with a bad fsync', { file: 'f', fsync: 'sometimes' }, '"persist.fsync" must be \'always\', \'everysec\' or \'no\', got "sometimes"'],
    ['with fsync true', { file: 'f', fsync: true }, '"persist.fsync" must be \'always\', \'everysec\' or \'no\', got true'],
    ['with an unknown field', { file: 'f', sync: 'always' }, '"persist.sync" is not an option']
  ])('persist %s', (_name, persist, message) => {
    expectRefused({ key: KEY, port: 1, persist }, message)
  })

  test('maxHandshakes above maxConnections', () => {
    expectRefused({ key: KEY, port: 1, maxConnections: 10, maxHandshakes: 11 }, '"maxHandshakes" must not exceed "maxConnections"')
    expect(parseOptions({ key: KEY, port: 1, maxConnections: 10 }).maxHandshakes).toBe(10)
  })

  test.each([
    ['a string', 'yes', '"tls" must be true or an object { cert, key, ca }'],
    ['null', null, '"tls" must be true or an object { cert, key, ca }'],
    ['an array', [], '"tls" must be true or an object { cert, key, ca }'],
    ['without ca', { cert: 'c', key: 'k' }, '"tls.ca" must be a PEM string or Buffer'],
    ['with an empty cert', { cert: '', key: 'k', ca: 'a' }, '"tls.cert" must be a PEM string or Buffer'],
    ['with an unknown field', { cert: 'c', key: 'k', ca: 'a', pfx: 'p' }, '"tls.pfx" is not an option']
  ])('tls %s', (_name, tls, message) => {
    expectRefused({ key: KEY, port: 1, tls }, message)
  })

  test('tls: true, false and certificates', () => {
    expect(parseOptions({ key: KEY, port: 1, tls: true }).tls).toEqual({ kind: 'psk' })
    expect(parseOptions({ key: KEY, port: 1, tls: false }).tls).toBeUndefined()
    expect(parseOptions({ key: KEY, port: 1, tls: { cert: 'c', key: 'k', ca: Buffer.from('a') } }).tls)
      .toEqual({ kind: 'certificates', cert: 'c', key: 'k', ca: Buffer.from('a') })
  })

  test.each(['tls', 'maxConnections', 'maxHandshakes'])('%s is refused in redis mode', (name) => {
    expectRefused({ redis: 'redis://localhost', [name]: 1 }, `"${name}" applies only to the manager socket, not with "redis"`)
  })

  test.each([
    ['an http URL', 'http://localhost:6379', '"redis" must be a redis:// or rediss:// URL or an ioredis client'],
    ['a bare host', 'localhost:6379', '"redis" must be a redis:// or rediss:// URL or an ioredis client'],
    ['an object without duplicate()', { connect: () => {} }, '"redis" must be a redis:// URL or an ioredis client'],
    ['a number', 6379, '"redis" must be a redis:// URL or an ioredis client'],
    ['null', null, '"redis" must be a redis:// URL or an ioredis client']
  ])('redis that is %s', (_name, redis, message) => {
    expectRefused({ redis }, message)
  })

  test('redis together with port or path', () => {
    const message = '"redis" excludes "port" and "path": Redis mode has no manager socket'
    expectRefused({ redis: 'redis://localhost', port: 1 }, message)
    expectRefused({ redis: 'redis://localhost', path: '/tmp/s.sock' }, message)
  })

  test('prefix outside redis mode, or not a string', () => {
    expectRefused({ key: KEY, port: 1, prefix: 'app:' }, '"prefix" applies only with "redis"')
    expectRefused({ redis: 'redis://localhost', prefix: 5 }, '"prefix" must be a string')
  })

  test.each([
    ['null', null],
    ['an array', [['a', 1]]],
    ['a string', 'a=1']
  ])('defaults that are %s', (_name, defaults) => {
    expectRefused({ key: KEY, port: 1, defaults }, '"defaults" must be a plain object of key -> initial value')
  })

  test('an ill-typed key is refused in redis mode too', () => {
    // API.md: "an unknown or ill-typed option fails registration"; redis mode ignores a key, but
    // an option of the wrong type is still a mistake worth reporting.
    expectRefusedNaming({ redis: 'redis://localhost', key: 12345 }, 'key')
  })

  test('an ill-typed host is refused in redis mode too', () => {
    expectRefusedNaming({ redis: 'redis://localhost', host: 42 }, 'host')
  })
})

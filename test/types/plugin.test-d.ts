import Fastify from 'fastify'
import sharedState, { type LockHandle, type SharedLock, type SharedMap, type SharedStateOptions } from '../../lib'

// Compile-time checks of the public types: `npm run test:types` fails if any of these stops
// holding, or if a line marked @ts-expect-error starts to compile.

/** True only when A and B are the same type, not merely assignable to each other. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function expectType<T> (value: T): T {
  return value
}
/** Compiles only when A and B are the same type: `assertEqual<A, B>(true)`. */
function assertEqual<A, B> (proof: Equal<A, B>): Equal<A, B> {
  return proof
}
/** `exactly<T>()(value)` compiles only when `value` is of type T exactly. */
function exactly<T> () {
  return <V>(value: V, ...notExact: Equal<V, T> extends true ? [] : [never]): V => value
}

const app = Fastify()

export async function registration (): Promise<void> {
  await app.register(sharedState, { port: 35791, key: 'a long random secret key' })
  await app.register(sharedState, { path: '/tmp/shared.sock', key: Buffer.from('secret'), defaults: { n: 0 } })
  await app.register(sharedState, {
    port: 35791,
    key: 'k',
    host: '127.0.0.1',
    timeout: 5000,
    connectTimeout: 3000,
    handshakeTimeout: 5000,
    maxFrameBytes: 1024,
    tls: true,
    maxConnections: 512,
    maxHandshakes: 64,
    persist: { file: 'state.log', fsync: 'always' }
  })
  await app.register(sharedState, { port: 1, key: 'k', tls: { cert: 'pem', key: Buffer.from('pem'), ca: 'pem' } })
  await app.register(sharedState, { redis: 'redis://127.0.0.1:6379', prefix: 'app:' })

  // @ts-expect-error an unknown option (a typo of `port`) does not compile
  await app.register(sharedState, { port: 1, key: 'k', prot: 2 })
  // @ts-expect-error `port` is a number
  await app.register(sharedState, { port: '1', key: 'k' })
  // @ts-expect-error `tls` certificates need cert, key and ca
  await app.register(sharedState, { port: 1, key: 'k', tls: { cert: 'pem', key: 'pem' } })
  // @ts-expect-error `fsync` is one of 'always' | 'everysec' | 'no'
  await app.register(sharedState, { port: 1, key: 'k', persist: { file: 'f', fsync: 'sometimes' } })

  const options: SharedStateOptions = { port: 1, key: 'k' }
  await app.register(sharedState, options)
}

export async function decorators (): Promise<void> {
  expectType<SharedMap>(app.shared)
  expectType<SharedLock>(app.sharedLock)

  await exactly<Promise<number | undefined>>()(app.shared.get<number>('x'))
  assertEqual<Awaited<ReturnType<typeof app.shared.incr>>, number>(true)
  assertEqual<Awaited<ReturnType<typeof app.shared.setIfAbsent>>, boolean>(true)
  assertEqual<typeof app.shared.role, 'host' | 'client' | 'redis'>(true)

  const handle = await app.sharedLock.acquire()
  assertEqual<typeof handle, LockHandle>(true)
  assertEqual<typeof handle.token, number>(true)
  assertEqual<ReturnType<typeof handle.release>, Promise<void>>(true)
  await app.sharedLock.acquire({ timeout: 1000, ttl: 30000 })

  exactly<number>()(await app.sharedLock.withLock(async (held) => held.token + 1))
  exactly<number>()(await app.shared.update<number>('n', (current) => (current ?? 0) + 1))
  exactly<number>()(await app.sharedLock.withLock((held) => {
    const n = (held.get<number>('n') ?? 0) + 1
    held.set('n', n, { ttl: 1000 })
    return n
  }, { read: ['n'] }))
  exactly<number | undefined>()(handle.get<number>('n'))
  for await (const page of app.shared.scan<number>('user:', { count: 100 })) exactly<Array<[string, number]>>()(page)
  // @ts-expect-error a scan's count is a number
  app.shared.scan('user:', { count: '100' })

  // @ts-expect-error a value read back is `T | undefined`, not `T`
  const sure: number = await app.shared.get<number>('x')
  // @ts-expect-error the fencing token is read-only
  handle.token = 2
  // @ts-expect-error lock options are numbers of ms
  await app.sharedLock.acquire({ timeout: '1s' })
  // @ts-expect-error `read` names keys: strings
  await app.sharedLock.acquire({ read: [1] })
  // @ts-expect-error a typo in a lock option does not compile
  await app.sharedLock.acquire({ reads: ['n'] })
  expectType<number>(sure)
}

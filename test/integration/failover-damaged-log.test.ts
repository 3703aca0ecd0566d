import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { type AddressInfo, createServer, Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import sharedState from '../../lib'
import { FILE_HEADER_BYTES, FRAME_HEADER_BYTES } from '../../lib/host/persistence/record-format'
import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// A damaged change log, loaded by the plugin at registration. A torn last record is what a crash
// in the middle of a write leaves: it is dropped with a warning and the rest loads. Damage before
// the end is corruption: registration fails with FST_SHARED_STATE_PERSIST naming the file and the
// offset, and the file is left as it was for someone to look at.

const teardown = new Teardown()
afterEach(() => teardown.run())

const KEYS = 10

async function logFile (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-log-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  return join(dir, 'state.log')
}

/** An app in this process whose log lines (JSON) are collected; closed by teardown. */
function appWithLog (): { app: FastifyInstance, lines: Array<{ level: number, msg: string }> } {
  const lines: Array<{ level: number, msg: string }> = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } })
  teardown.add(() => app.close())
  return { app, lines }
}

async function register (app: FastifyInstance, port: number, file: string): Promise<void> {
  await app.register(sharedState, { port, key: TEST_KEY, persist: { file, fsync: 'always' } }).ready()
}

/**
 * Writes `key-0`..`key-9` through a host with persist, which then closes: a frame each, as under
 * 'always' each awaited set is a write of its own.
 */
async function writeLog (file: string): Promise<void> {
  const { app } = appWithLog()
  await register(app, await freePort(), file)
  expect(app.shared.role).toBe('host')
  for (let i = 0; i < KEYS; i++) await app.shared.set(`key-${i}`, { i, text: `value ${i}` })
  await app.close()
}

/** Where each frame starts, read from the frame headers. */
function frameOffsets (bytes: Buffer): number[] {
  const offsets: number[] = []
  for (let offset = FILE_HEADER_BYTES; offset < bytes.length; offset += FRAME_HEADER_BYTES + bytes.readUInt32BE(offset)) {
    offsets.push(offset)
  }
  return offsets
}

/**
 * Closes any server of this process still listening on `port`. A registration that fails after
 * its election should let the port go by itself (the test asserts it does); this only keeps a
 * leak from holding the test runner open after that assertion has failed.
 */
function closeLeakedServers (port: number): void {
  const handles = (process as unknown as { _getActiveHandles: () => unknown[] })._getActiveHandles()
  for (const handle of handles) {
    if (handle instanceof Server && (handle.address() as AddressInfo | null)?.port === port) handle.close()
  }
}

function portIsFree (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)))
  })
}

test('a torn last record is dropped with a warning; everything before it loads, and the file is repaired', async () => {
  const file = await logFile()
  await writeLog(file)
  const whole = await readFile(file)
  const offsets = frameOffsets(whole)
  expect(offsets).toHaveLength(KEYS)
  // A crash in the middle of the last write: its record lost its last few bytes.
  await truncate(file, whole.length - 3)

  const { app, lines } = appWithLog()
  await register(app, await freePort(), file)
  expect(app.shared.role).toBe('host')
  for (let i = 0; i < KEYS - 1; i++) expect(await app.shared.get(`key-${i}`)).toEqual({ i, text: `value ${i}` })
  expect(await app.shared.has(`key-${KEYS - 1}`)).toBe(false)
  const warnings = lines.filter((line) => line.level === 40 && line.msg.includes('torn'))
  expect(warnings).toEqual([expect.objectContaining({ msg: expect.stringContaining(file) })])

  // The torn bytes were cut off: what is written now follows the last good record, and loads.
  await app.shared.set('after', 'repair')
  await app.close()
  const { app: next, lines: nextLines } = appWithLog()
  await register(next, await freePort(), file)
  expect(await next.shared.get('after')).toBe('repair')
  expect(await next.shared.get('key-0')).toEqual({ i: 0, text: 'value 0' })
  expect(nextLines.filter((line) => line.msg.includes('torn'))).toEqual([])
})

/**
 * Registering on the damaged `file` fails with PERSIST naming the file and the damaged offset;
 * the file is left as it was (the evidence is intact) and the socket won for the election is let go.
 */
async function expectRefused (file: string, damaged: number, bytes: Buffer): Promise<void> {
  const port = await freePort()
  const { app } = appWithLog()
  teardown.add(() => closeLeakedServers(port))
  const error = await register(app, port, file).then(() => undefined, (error: unknown) => error)
  expect(error).toMatchObject({ code: 'FST_SHARED_STATE_PERSIST', message: expect.stringContaining(file) })
  expect((error as Error).message).toContain(`byte ${damaged}`)
  expect(await readFile(file)).toEqual(bytes)
  expect(await portIsFree(port)).toBe(true)
}

test('a record damaged in the middle refuses registration with FST_SHARED_STATE_PERSIST naming the file and offset', async () => {
  const file = await logFile()
  await writeLog(file)
  const bytes = await readFile(file)
  const offsets = frameOffsets(bytes)
  const damaged = offsets[KEYS / 2] as number
  // One bit flipped in the body of a record with more records after it.
  bytes[damaged + FRAME_HEADER_BYTES + 2] = (bytes[damaged + FRAME_HEADER_BYTES + 2] as number) ^ 0x10
  await writeFile(file, bytes)

  await expectRefused(file, damaged, bytes)
})

test('a damaged record header in the middle refuses registration too', async () => {
  const file = await logFile()
  await writeLog(file)
  const bytes = await readFile(file)
  const damaged = frameOffsets(bytes)[3] as number
  // The length field: had it been trusted, this record would swallow every record after it.
  bytes.writeUInt32BE(bytes.readUInt32BE(damaged) + 1000, damaged)
  await writeFile(file, bytes)

  await expectRefused(file, damaged, bytes)
})

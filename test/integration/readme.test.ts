import { execFile } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from '../helpers/ports'
import { ROOT, TEST_KEY } from '../helpers/processes'

// The README's usage snippet, run as a user would paste it (an ES module importing the package
// by name), so the first thing people copy keeps working. Then the same through require().

const run = promisify(execFile)
const scratch = join(ROOT, 'test', '.tmp')

afterAll(() => rm(scratch, { recursive: true, force: true }))

async function usageSnippet (): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const usage = readme.slice(readme.indexOf('## Usage'))
  const match = /```js\n([\s\S]*?)```/.exec(usage)
  if (match?.[1] === undefined) throw new Error('no js block under ## Usage')
  return match[1]
}

async function runModule (name: string, source: string): Promise<string> {
  await mkdir(scratch, { recursive: true })
  const file = join(scratch, name)
  await writeFile(file, source)
  const { stdout } = await run(process.execPath, [file], {
    cwd: ROOT,
    env: { ...process.env, SHARED_STATE_KEY: TEST_KEY },
    timeout: 30000
  })
  return stdout
}

test('the usage snippet runs as written: both routes count', async () => {
  const [sharedPort, httpPort] = [await freePort(), await freePort()]
  const snippet = (await usageSnippet())
    .replace('{ logger: true }', '{ logger: false }')
    .replace('port: 35791', `port: ${sharedPort}`)
    .replace('port: 3000', `port: ${httpPort}, host: '127.0.0.1'`)
  const check = `
const answers = []
for (const path of ['/', '/', '/locked']) answers.push(await (await fetch('http://127.0.0.1:${httpPort}' + path)).text())
console.log(JSON.stringify({ answers, role: app.shared.role }))
await app.close()
`
  const out = JSON.parse(await runModule('readme-usage.mjs', snippet + check)) as { answers: string[], role: string }
  expect(out).toEqual({ answers: ['1', '2', '1'], role: 'host' })
})

test('require() gives the same plugin, the errors and the stores', async () => {
  const port = await freePort()
  const out = await runModule('require.cjs', `
const plugin = require('fastify-shared-state')
const { sharedState, SharedStateTimeoutError, sharedRateLimitStore, SharedSessionStore } = plugin
const Fastify = require('fastify')
;(async () => {
  const app = Fastify()
  await app.register(sharedState, { port: ${port}, key: process.env.SHARED_STATE_KEY })
  const esm = await import('fastify-shared-state')
  console.log(JSON.stringify({
    same: esm.default === sharedState && esm.sharedState === sharedState && plugin.default === sharedState,
    error: new SharedStateTimeoutError('get', 1).code,
    stores: typeof sharedRateLimitStore === 'function' && typeof SharedSessionStore === 'function',
    n: await app.shared.incr('n')
  }))
  await app.close()
})()
`)
  expect(JSON.parse(out)).toEqual({ same: true, error: 'FST_SHARED_STATE_TIMEOUT', stores: true, n: 1 })
})

#!/usr/bin/env node
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { inspect as show, parseArgs } from 'node:util'
import { HostConnection } from '../client/host-connection'
import { errorFromWire } from '../errors'
import type { HostDescription } from '../host/host-session'
import { describeEndpoint, type Endpoint, type TlsSetting } from '../options'
import { ValueCodec } from '../protocol/codec'
import { opCode } from '../protocol/messages'
import { TlsTransport } from '../tls-transport'
import { readKey } from './read-key'

const USAGE = `Usage: fastify-shared-state inspect (--port N [--host H] | --path P) [options]

Authenticates to a running host like a worker does and prints what it holds.
The key comes from SHARED_STATE_KEY, or is asked for on the terminal; never from an argument.

  --prefix S      only keys starting with S
  --get KEY       also print the value of KEY
  --json          one JSON object, for scripts
  --delete KEY    delete KEY (the only change this command makes, and only when asked)
  --tls           the host runs with tls: true (TLS-PSK from the key)
  --tls-cert F --tls-key F --tls-ca F
                  the host runs with tls certificates: this command's own, and the CA (PEM files)
`

interface Report {
  host: { address: string, pid: number }
  workers: HostDescription['workers']
  keys: Array<{ key: string, bytes: number, ttl: number }>
  locks: HostDescription['lockList']
  opsPerSecond: Record<string, number>
  persist: HostDescription['persist']
  value?: unknown
  deleted?: boolean
}

type Caller = ((op: string, ...args: unknown[]) => Promise<unknown>) & { close: () => void }

/** A connection as a worker makes one, without the failover machinery a one-shot command needs not. */
async function connect (endpoint: Endpoint, key: Buffer, tls: TlsSetting | undefined): Promise<Caller> {
  const waiting = new Map<number, { resolve: (value: unknown) => void, reject: (error: Error) => void }>()
  const connection = await HostConnection.open({
    endpoint,
    key,
    maxFrameBytes: 64 * 1024 * 1024,
    clientId: `inspect-${process.pid}-${randomBytes(4).toString('hex')}`,
    info: { pid: process.pid },
    tls: tls === undefined ? undefined : new TlsTransport(tls, key)
  }, Date.now() + 5000, {
    reply: (id, status, value, message) => {
      const call = waiting.get(id)
      waiting.delete(id)
      if (status === 0) call?.resolve(value)
      else call?.reject(errorFromWire(value, message))
    },
    push: () => {},
    lost: (error) => { for (const call of waiting.values()) call.reject(error) }
  })
  let nextId = 1
  const call = (op: string, ...args: unknown[]): Promise<unknown> => new Promise((resolve, reject) => {
    const id = nextId++
    waiting.set(id, { resolve, reject })
    connection.send(id, opCode(op), args)
  })
  return Object.assign(call, { close: () => connection.close() })
}

// Rows per request: the host answers each page in one short step, however many keys it holds.
const DESCRIBE_PAGE = 1000

async function describeKeys (call: Caller, prefix: string): Promise<Array<[string, number, number]>> {
  const rows: Array<[string, number, number]> = []
  let cursor = ''
  do {
    const [next, page] = await call('describeKeys', prefix, cursor, DESCRIBE_PAGE) as [string, Array<[string, number, number]>]
    for (const row of page) rows.push(row)
    cursor = next
  } while (cursor !== '')
  return rows
}

function printReport (report: Report, prefix: string): void {
  const out: string[] = []
  out.push(`host      ${report.host.address} (pid ${report.host.pid})`)
  out.push(`workers   ${report.workers.length}: ${report.workers.map((worker) => `pid ${worker.pid}`).join(', ')}`)
  const rates = Object.entries(report.opsPerSecond).map(([op, rate]) => `${op} ${rate}/s`).join(', ')
  out.push(`ops       ${rates === '' ? 'idle' : rates}`)
  if (report.persist !== null) {
    const { file, fsync, failure } = report.persist
    out.push(`persist   ${file} (fsync ${fsync}): ${failure === null ? 'ok' : `FAILED, changes refused: ${failure}`}`)
  }
  out.push(`keys      ${report.keys.length}${prefix === '' ? '' : ` starting with "${prefix}"`}`)
  for (const { key, bytes, ttl } of report.keys) {
    out.push(`  ${key}  ${bytes} B${ttl >= 0 ? `  ttl ${ttl} ms` : ''}`)
  }
  out.push(`locks     ${report.locks.length}`)
  for (const lock of report.locks) {
    out.push(`  ${lock.name}  ${lock.owner === null ? 'free' : `held by ${lock.owner} (token ${lock.token})`}  ${lock.waiting} waiting`)
  }
  if ('value' in report) out.push(`value     ${show(report.value, { depth: 6, colors: false })}`)
  if (report.deleted !== undefined) out.push(`deleted   ${String(report.deleted)}`)
  console.log(out.join('\n'))
}

async function tlsSetting (values: { tls?: boolean, 'tls-cert'?: string, 'tls-key'?: string, 'tls-ca'?: string }): Promise<TlsSetting | undefined> {
  const files = [values['tls-cert'], values['tls-key'], values['tls-ca']]
  if (files.every((file) => file === undefined)) return values.tls === true ? { kind: 'psk' } : undefined
  if (files.some((file) => file === undefined)) throw new Error('--tls-cert, --tls-key and --tls-ca go together')
  const [cert, key, ca] = await Promise.all(files.map((file) => readFile(file as string)))
  return { kind: 'certificates', cert: cert as Buffer, key: key as Buffer, ca: ca as Buffer }
}

async function main (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      path: { type: 'string' },
      prefix: { type: 'string', default: '' },
      get: { type: 'string' },
      delete: { type: 'string' },
      json: { type: 'boolean', default: false },
      tls: { type: 'boolean', default: false },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help || positionals[0] !== 'inspect' || (values.port === undefined && values.path === undefined)) {
    process.stderr.write(USAGE)
    return values.help ? 0 : 2
  }
  const endpoint: Endpoint = values.path !== undefined
    ? { kind: 'unix', path: values.path }
    : { kind: 'tcp', host: values.host, port: Number(values.port) }
  const key = await readKey()
  const call = await connect(endpoint, key, await tlsSetting(values))
  try {
    const host = await call('stats') as HostDescription
    const described = await describeKeys(call, values.prefix)
    const report: Report = {
      host: { address: describeEndpoint(endpoint), pid: host.pid },
      // This command is a connection too, not a worker.
      workers: host.workers.filter((worker) => worker.pid !== process.pid),
      keys: described.map(([name, bytes, ttl]) => ({ key: name, bytes, ttl })),
      locks: host.lockList,
      opsPerSecond: host.opsPerSecond,
      persist: host.persist ?? null
    }
    if (values.get !== undefined) {
      const raw = await call('get', values.get) as Uint8Array | null
      report.value = raw === null ? undefined : new ValueCodec().decode(raw)
    }
    if (values.delete !== undefined) report.deleted = await call('delete', values.delete) as boolean
    if (values.json) console.log(JSON.stringify(report, (_key, value: unknown) => typeof value === 'bigint' ? value.toString() : value))
    else printReport(report, values.prefix)
    return 0
  } finally {
    call.close()
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (error: Error & { code?: string }) => {
  process.stderr.write(`${error.code ?? 'error'}: ${error.message}\n`)
  process.exitCode = 1
})

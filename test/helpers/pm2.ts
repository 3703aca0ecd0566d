import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from './processes'
import type { Teardown } from './teardown'

const PM2 = join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2')

/**
 * pm2 with a home of its own (PM2_HOME in a temporary directory): its own daemon, apps and logs,
 * apart from any pm2 the machine runs. Teardown kills that daemon (`pm2 kill`, then its pid) and
 * removes the directory.
 */
export class Pm2 {
  readonly home: string
  readonly #env: Record<string, string>

  private constructor (home: string, env: Record<string, string>) {
    this.home = home
    this.#env = env
  }

  static async start (teardown: Teardown, env: Record<string, string>): Promise<Pm2> {
    const home = await mkdtemp(join(tmpdir(), 'pm2-home-'))
    teardown.add(() => rm(home, { recursive: true, force: true }))
    const pm2 = new Pm2(home, env)
    teardown.add(() => pm2.#kill())
    return pm2
  }

  /** Runs the pm2 command line with this home; resolves with its output. */
  run (...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [PM2, ...args], {
        cwd: ROOT,
        env: { ...process.env, ...this.#env, PM2_HOME: this.home },
        timeout: 60000
      }, (error, stdout, stderr) => {
        if (error !== null) reject(Object.assign(error, { output: `${stdout}${stderr}` }))
        else resolve(`${stdout}${stderr}`)
      })
    })
  }

  /** What the apps wrote to their pm2 log files, for a failing test's message. */
  async logs (): Promise<string> {
    const dir = join(this.home, 'logs')
    const files = await readdir(dir).catch(() => [])
    const parts = await Promise.all(files.map(async (file) => `--- ${file}\n${await readFile(join(dir, file), 'utf8')}`))
    return parts.join('\n')
  }

  async #kill (): Promise<void> {
    await this.run('kill').catch(() => {})
    // The daemon we started, by the pid it wrote, in case `pm2 kill` could not reach it.
    const pid = Number(await readFile(join(this.home, 'pm2.pid'), 'utf8').catch(() => ''))
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
  }
}

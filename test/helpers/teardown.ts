/**
 * Undo steps, registered right after each resource is created and run in reverse order by
 * `afterEach`/`afterAll`. Every step runs even when one fails; the first failure is rethrown.
 */
export class Teardown {
  #steps: Array<() => unknown> = []

  add (step: () => unknown): void {
    this.#steps.push(step)
  }

  async run (): Promise<void> {
    const steps = this.#steps.reverse()
    this.#steps = []
    let failure: unknown
    for (const step of steps) {
      try {
        await step()
      } catch (error) {
        failure ??= error
      }
    }
    if (failure !== undefined) throw failure
  }
}

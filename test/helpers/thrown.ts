/** The error `run` throws synchronously; fails the test if it does not throw. */
export function thrown (run: () => unknown): Error & { code?: string } {
  try {
    run()
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('expected a throw')
}

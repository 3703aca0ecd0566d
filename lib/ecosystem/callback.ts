/**
 * Settles a Node-style callback from a promise, outside the promise chain: an error the callback
 * itself throws surfaces as it would from any callback API, instead of vanishing as an unhandled
 * rejection, and the callback runs exactly once.
 */
export function settle<T> (promise: Promise<T>, callback: (error: Error | null, value?: T) => void): void {
  promise.then(
    (value) => process.nextTick(callback, null, value),
    (error: Error) => process.nextTick(callback, error))
}

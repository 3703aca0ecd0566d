import { IncomingHandover } from '../../lib/client/incoming-handover'

// The successor's copy of a handed-over state: collected in parts, complete only at the end,
// and waiting for the closing host's one verdict (the first word counts; silence times out).

test('parts add up to one snapshot, complete only once the end arrives', () => {
  const incoming = new IncomingHandover(3)
  incoming.collect('entries', [['a', new Uint8Array([1])]])
  incoming.collect('entries', [['b', new Uint8Array([2])]])
  incoming.collect('tokens', [['jobs', 7]])
  expect(incoming.complete).toBe(false)
  incoming.end(42, ['worker-1', 5, 'worker-2'], true)
  expect(incoming.complete).toBe(true)
  expect(incoming.together).toBe(true)
  expect(incoming.snapshot.state.entries.map(([key]) => key)).toEqual(['a', 'b'])
  expect(incoming.snapshot.state.clock).toBe(42)
  expect(incoming.snapshot.tokens).toEqual([['jobs', 7]])
  // Only client ids: anything else in the list is not one.
  expect(incoming.expected).toEqual(['worker-1', 'worker-2'])
})

test('the first verdict counts, whether it came before or while waiting', async () => {
  const early = new IncomingHandover(1)
  early.hear('free')
  early.hear('lost')
  expect(await early.waitForVerdict(1000)).toBe('free')

  const late = new IncomingHandover(1)
  const verdict = late.waitForVerdict(1000)
  late.hear('cancelled')
  late.hear('free')
  expect(await verdict).toBe('cancelled')
})

test('a host that never answers times the wait out', async () => {
  jest.useFakeTimers()
  try {
    const incoming = new IncomingHandover(1)
    const verdict = incoming.waitForVerdict(3000)
    jest.advanceTimersByTime(3000)
    expect(await verdict).toBe('timeout')
    // A word that comes too late changes nothing.
    incoming.hear('free')
    expect(await incoming.waitForVerdict(1)).toBe('timeout')
  } finally {
    jest.useRealTimers()
  }
})

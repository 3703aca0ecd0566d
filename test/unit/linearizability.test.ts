import { checkHistory, checkKey, type KeyOp, type Operation } from '../helpers/linearizability'

function op (op: KeyOp, invoke: number, response: number | undefined, result?: unknown, key = 'k'): Operation {
  return { key, op, invoke, response, result }
}

describe('the linearizability checker', () => {
  test('sequential history: linearizable', () => {
    expect(checkKey([
      op({ name: 'set', value: 1 }, 0, 1),
      op({ name: 'incr', by: 2 }, 2, 3, 3),
      op({ name: 'get' }, 4, 5, 3),
      op({ name: 'compareAndSet', expected: 3, next: 7 }, 6, 7, true),
      op({ name: 'delete' }, 8, 9, true),
      op({ name: 'get' }, 10, 11, undefined)
    ])).toBe(true)
  })

  test('overlapping operations may take effect in either order', () => {
    // The read overlaps the write and sees the old value, then the new one: both orders are fine.
    expect(checkKey([
      op({ name: 'set', value: 1 }, 0, 1),
      op({ name: 'set', value: 2 }, 2, 10),
      op({ name: 'get' }, 3, 4, 1),
      op({ name: 'get' }, 5, 6, 2),
      op({ name: 'incr', by: 1 }, 5, 12, 3)
    ])).toBe(true)
  })

  test('a read that sees a value, then one that sees an older value: not linearizable', () => {
    expect(checkKey([
      op({ name: 'set', value: 1 }, 0, 1),
      op({ name: 'set', value: 2 }, 2, 10),
      op({ name: 'get' }, 3, 4, 2),
      op({ name: 'get' }, 5, 6, 1)
    ])).toBe(false)
  })

  test('a change seen by a reader, then undone and applied again (a lost fsync): not linearizable', () => {
    // The shape of the bug under kill -9: a get returns 7, which only the incr produces; the incr
    // is then answered 12, as if applied after the set that followed the read.
    expect(checkKey([
      op({ name: 'set', value: 5 }, 0, 1),
      op({ name: 'incr', by: 2 }, 2, 100, 12),
      op({ name: 'get' }, 3, 4, 7),
      op({ name: 'set', value: 10 }, 5, 6)
    ])).toBe(false)
  })

  test('an incr answered twice differently cannot both be one application', () => {
    expect(checkKey([
      op({ name: 'set', value: 0 }, 0, 1),
      op({ name: 'incr', by: 1 }, 2, 3, 1),
      op({ name: 'incr', by: 1 }, 4, 5, 1)
    ])).toBe(false)
  })

  test('a failed operation may have taken effect, or not', () => {
    const setup = op({ name: 'set', value: 0 }, 0, 1)
    // A timed-out incr whose effect a later read shows...
    expect(checkKey([setup, op({ name: 'incr', by: 5 }, 2, undefined), op({ name: 'get' }, 10, 11, 5)])).toBe(true)
    // ...or does not show.
    expect(checkKey([setup, op({ name: 'incr', by: 5 }, 2, undefined), op({ name: 'get' }, 10, 11, 0)])).toBe(true)
    // But it cannot have produced a value it never could.
    expect(checkKey([setup, op({ name: 'incr', by: 5 }, 2, undefined), op({ name: 'get' }, 10, 11, 4)])).toBe(false)
  })

  test('compareAndSet and delete outcomes follow the register', () => {
    expect(checkKey([
      op({ name: 'compareAndSet', expected: undefined, next: 1 }, 0, 1, true),
      op({ name: 'compareAndSet', expected: undefined, next: 2 }, 2, 3, false),
      op({ name: 'delete' }, 4, 5, true),
      op({ name: 'delete' }, 6, 7, false)
    ])).toBe(true)
    expect(checkKey([
      op({ name: 'compareAndSet', expected: undefined, next: 1 }, 0, 1, true),
      op({ name: 'compareAndSet', expected: undefined, next: 2 }, 2, 3, true)
    ])).toBe(false)
  })

  test('keys are checked apart, and the verdict names the bad one', () => {
    const verdict = checkHistory([
      op({ name: 'set', value: 1 }, 0, 1, undefined, 'a'),
      op({ name: 'get' }, 2, 3, 1, 'a'),
      op({ name: 'set', value: 1 }, 0, 1, undefined, 'b'),
      op({ name: 'get' }, 2, 3, 2, 'b')
    ])
    expect(verdict).toEqual({ ok: false, violations: ['b'], undecided: [] })
  })

  test('many concurrent operations are checked quickly thanks to the memo', () => {
    // 8 callers each doing 30 overlapping incr(1) calls with answers in a valid order.
    const ops: Operation[] = []
    let value = 0
    for (let round = 0; round < 30; round++) {
      for (let caller = 0; caller < 8; caller++) {
        value++
        ops.push(op({ name: 'incr', by: 1 }, round * 10, round * 10 + 9, value))
      }
    }
    expect(checkKey(ops)).toBe(true)
    // One answer repeated: no order explains it.
    ;(ops[100] as Operation).result = (ops[101] as Operation).result
    expect(checkKey(ops)).toBe(false)
  })
})

import { describe, expect, it } from 'vitest'
import * as L from '../../src/repl/line.js'

const at = (text: string, cursor: number): L.Line => ({ text, cursor })

describe('line editor', () => {
  it('inserts at the cursor and moves it', () => {
    expect(L.insert(at('ls host=a', 2), ' WHERE')).toEqual(at('ls WHERE host=a', 8))
  })

  it('backspace and delete at the edges do nothing', () => {
    expect(L.backspace(at('ab', 0))).toEqual(at('ab', 0))
    expect(L.backspace(at('ab', 1))).toEqual(at('b', 0))
    expect(L.deleteForward(at('ab', 2))).toEqual(at('ab', 2))
    expect(L.deleteForward(at('ab', 0))).toEqual(at('b', 0))
  })

  it('moves by character, to the ends, and by word', () => {
    const l = at('ls WHERE host=a', 8)
    expect(L.left(l).cursor).toBe(7)
    expect(L.right(l).cursor).toBe(9)
    expect(L.left(at('x', 0)).cursor).toBe(0)
    expect(L.right(at('x', 1)).cursor).toBe(1)
    expect(L.home(l).cursor).toBe(0)
    expect(L.end(l).cursor).toBe(15)
    expect(L.wordLeft(l).cursor).toBe(3)
    expect(L.wordLeft(at('ls WHERE  ', 10)).cursor).toBe(3)
    expect(L.wordRight(at('ls WHERE host=a', 2)).cursor).toBe(8)
  })

  it('deletes words and kills to either end', () => {
    expect(L.deleteWordBack(at('ls WHERE host=a', 15))).toEqual(at('ls WHERE ', 9))
    expect(L.deleteWordBack(at('ls WHERE ', 9))).toEqual(at('ls ', 3))
    expect(L.deleteWordForward(at('ls WHERE host=a', 2))).toEqual(at('ls host=a', 2))
    expect(L.killToStart(at('ls WHERE', 3))).toEqual(at('WHERE', 0))
    expect(L.killToEnd(at('ls WHERE', 3))).toEqual(at('ls ', 3))
  })

  it('replaces a range for completion', () => {
    expect(L.replaceRange(at('ls WHERE reg', 12), 9, 12, 'region=')).toEqual(at('ls WHERE region=', 16))
  })
})

import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LogStore, TaskLog, formatLogLine, parseLogLine, readLogFileTail, type LogLine } from '../../src/exec/index.js'
import { tempDir, waitFor } from './helpers.js'

let clock = 0
function newLog (more: Partial<ConstructorParameters<typeof TaskLog>[0]> = {}): TaskLog {
  return new TaskLog({ taskId: 't', attempt: 1, path: '/nonexistent/task.log', tailLines: 100, tailChars: 10_000, maxLineChars: 100, now: () => ++clock, ...more })
}
const texts = (lines: LogLine[]): string[] => lines.map(l => `${l.stream} ${l.text}`)

describe('TaskLog', () => {
  it('splits chunks into lines per stream, across chunk boundaries and UTF-8 sequences', async () => {
    const log = newLog()
    const euro = Buffer.from('€')
    log.write('out', Buffer.from('hel'))
    log.write('err', Buffer.from('e1\r\ne2'))
    log.write('out', Buffer.from('lo\nx'))
    log.write('out', euro.subarray(0, 1))
    log.write('out', Buffer.concat([euro.subarray(1), Buffer.from('\n\nlast')]))
    expect(texts(log.tail())).toEqual(['err e1', 'out hello', 'out x€', 'out '])
    await log.close()
    expect(texts(log.tail())).toEqual(['err e1', 'out hello', 'out x€', 'out ', 'out last', 'err e2'])
    expect(log.tail().map(l => l.seq)).toEqual([1, 2, 3, 4, 5, 6])
  })

  it('cuts long lines and bounds the tail by lines and characters', () => {
    const log = newLog({ tailLines: 3, maxLineChars: 100, tailChars: 250 })
    log.write('out', 'a'.repeat(250))
    expect(log.tail().map(l => l.text.length)).toEqual([100, 100])
    log.write('out', '\n')
    expect(log.tail().map(l => l.text.length)).toEqual([100, 100, 50])
    log.append('sys', 'x\ny')
    expect(log.tail().map(l => l.text)).toEqual(['a'.repeat(50), 'x', 'y'])
    expect(log.tail(2).map(l => l.seq)).toEqual([4, 5])
    expect(log.tail(0)).toEqual([])
  })

  it('follow continues a tail without gap or repeat, ends with the log, and stops on abort', async () => {
    const log = newLog()
    log.append('out', 'one')
    const after = log.tail().at(-1)?.seq
    const seen: string[] = []
    const following = (async () => { for await (const l of log.follow({ after })) seen.push(l.text) })()
    log.append('out', 'two')
    log.append('out', 'three')
    await waitFor(() => seen.length === 2)
    await log.close()
    await following
    expect(seen).toEqual(['two', 'three'])

    const open = newLog()
    const ac = new AbortController()
    const got: string[] = []
    const stopping = (async () => { for await (const l of open.follow({ signal: ac.signal })) got.push(l.text) })()
    open.append('out', 'new')
    await waitFor(() => got.length === 1)
    ac.abort()
    await stopping
    expect(got).toEqual(['new'])
  })

  it('tells a follower that fell behind how many lines it missed', async () => {
    const log = newLog({ tailLines: 2 })
    for (const t of ['1', '2', '3', '4']) log.append('out', t)
    await log.close()
    const seen: LogLine[] = []
    for await (const l of log.follow({ after: 0 })) seen.push(l)
    expect(seen.map(l => `${l.seq} ${l.stream} ${l.text}`)).toEqual(['2 sys [2 lines not kept in memory; see /nonexistent/task.log]', '3 out 3', '4 out 4'])
  })

  it('writes lines to its file, also those from before the file was opened', async () => {
    const { dir, cleanup } = await tempDir()
    try {
      const path = join(dir, 'task.log')
      const log = newLog({ path, now: () => Date.UTC(2025, 0, 2, 3, 4, 5, 6) })
      log.append('sys', 'early')
      log.openFile()
      log.write('err', 'later\n')
      await log.close()
      expect(await readLogFileTail(path, 10)).toEqual([
        { ts: Date.UTC(2025, 0, 2, 3, 4, 5, 6), stream: 'sys', text: 'early' },
        { ts: Date.UTC(2025, 0, 2, 3, 4, 5, 6), stream: 'err', text: 'later' }
      ])
      expect(await readLogFileTail(path, 1)).toHaveLength(1)
      await writeFile(path, 'garbage\n' + formatLogLine({ ts: 0, stream: 'out', text: ' spaced  out ' }) + '\n')
      expect(await readLogFileTail(path, 10)).toEqual([{ ts: 0, stream: 'out', text: ' spaced  out ' }])
    } finally {
      await cleanup()
    }
  })

  it('a log file that cannot be written leaves the in-memory tail working', async () => {
    const log = newLog({ path: '/nonexistent/dir/task.log' })
    log.openFile()
    log.append('out', 'still here')
    await waitFor(() => log.tail().some(l => l.stream === 'sys' && l.text.startsWith('cannot write the log file')))
    await log.close()
    expect(log.tail().some(l => l.text === 'still here')).toBe(true)
  })

  it('format and parse are inverse', () => {
    const line = { ts: 1_700_000_000_123, stream: 'err' as const, text: 'a b  c' }
    expect(formatLogLine(line)).toBe('2023-11-14T22:13:20.123Z err a b  c')
    expect(parseLogLine(formatLogLine(line))).toEqual(line)
    expect(parseLogLine('not a line')).toBeUndefined()
  })
})

describe('LogStore', () => {
  it('keeps the newest attempt per task and a bounded number of finished logs', async () => {
    const store = new LogStore({ tailLines: 10, tailChars: 1000, maxLineChars: 100, retainFinished: 2, now: () => 0 })
    const a1 = store.create('a', 1, '/nonexistent/a1')
    const a2 = store.create('a', 2, '/nonexistent/a2')
    expect(store.get('a')).toBe(a2)
    await store.finish(a1) // an old attempt finishing does not evict the new one
    expect(store.get('a')).toBe(a2)
    const b = store.create('b', 1, '/nonexistent/b')
    const c = store.create('c', 1, '/nonexistent/c')
    await store.finish(a2)
    await store.finish(b)
    expect(store.list()).toEqual([a2, b, c])
    await store.finish(c)
    expect(store.get('a')).toBeUndefined()
    expect(store.list()).toEqual([b, c])
    expect(b.ended).toBe(true)
  })
})

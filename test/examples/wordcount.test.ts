import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, it, expect } from 'vitest'
import { importSource, loadExample, runLocally, WORDCOUNT_TOP as TOP } from './local-run.js'

interface Counted { file: string, words: number, counts: Record<string, number> }
interface Tasks {
  STOPWORDS: Set<string>
  words: (text: string) => string[]
  split: (input: { dir: string }) => Promise<{ files: string[] }>
  map: (input: { item: string, index?: number, stopwords?: boolean }, ctx: Ctx) => Promise<Counted>
  reduce: (input: { counts: Counted[], top?: number }, ctx: Ctx) => Promise<{ files: number, words: number, distinct: number, top: Record<string, number> }>
}

interface Ctx { log: (...args: unknown[]) => void }

const body = loadExample('wordcount/wordcount.yaml')
const DIR = 'examples/wordcount/texts'
const ctx: Ctx = { log: () => {} }
let dir: string
let tasks: Tasks

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bidmesh-wordcount-'))
  tasks = await importSource<Tasks>(dir, 'wordcount', body.defaults.source)
})
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('examples/wordcount task code', () => {
  it('splits text into lower-case words, keeping inner apostrophes', () => {
    expect(tasks.words("Call me Ishmael -- people's battle-field, 'quoted' 42 Été")).toEqual(
      ['call', 'me', 'ishmael', "people's", 'battle', 'field', 'quoted', 'été'])
  })

  it('lists the text files, sorted, relative to the working directory', async () => {
    expect(await tasks.split({ dir: DIR })).toEqual({
      files: ['gettysburg.txt', 'moby-dick.txt', 'pride.txt', 'two-cities.txt'].map(f => `${DIR}/${f}`)
    })
  })

  it('counts one file, with and without stopwords', async () => {
    const all = await tasks.map({ item: `${DIR}/gettysburg.txt`, stopwords: false }, ctx)
    expect(all.words).toBe(272)
    expect(all.counts.that).toBe(13)
    expect(Object.values(all.counts).reduce((a, b) => a + b, 0)).toBe(all.words)
    const some = await tasks.map({ item: `${DIR}/gettysburg.txt` }, ctx)
    expect(some.words).toBe(272)
    expect(some.counts.that).toBeUndefined()
    expect(some.counts.nation).toBe(5)
  })

  it('merges counts and ranks them, ties alphabetically', async () => {
    const out = await tasks.reduce({
      top: 3,
      counts: [
        { file: 'a', words: 4, counts: { b: 2, a: 1, z: 1 } },
        { file: 'b', words: 3, counts: { a: 1, z: 2 } }
      ]
    }, ctx)
    expect(out).toEqual({ files: 2, words: 7, distinct: 3, top: { z: 3, a: 2, b: 2 } })
    expect(Object.keys(out.top)).toEqual(['z', 'a', 'b'])
  })

  it('runs as a workflow (engine + runner, no mesh) and returns the top words', async () => {
    const run = await runLocally(body)
    expect(run.state.status).toBe('succeeded')
    expect(run.runs.map(r => r.key).sort()).toEqual(['map[0]', 'map[1]', 'map[2]', 'map[3]', 'reduce', 'split'])
    const out = run.result('reduce') as { top: Record<string, number> }
    expect(out).toEqual({ files: 4, words: 812, distinct: 306, top: TOP })
    expect(Object.keys(out.top)).toEqual(Object.keys(TOP))
  })
})

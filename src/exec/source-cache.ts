import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

/**
 * Files kept at most. Sources are at most 64 KiB (MAX_INLINE_SOURCE_BYTES), so this bounds the
 * disk use to 16 MiB; a source evicted and seen again is simply written again.
 */
const MAX_FILES = 256

interface Entry {
  path: string
  url: string
  /** Runs using the file now: it is not deleted under them. */
  refs: number
  written: Promise<void>
}

/** A file holding an inline source, for one run; `release()` when the run no longer needs it. */
export interface CachedSource {
  path: string
  url: string
  release: () => void
}

/**
 * The inline sources of js tasks as files named by content: `<dir>/<sha256>.mjs`. Tasks with the
 * same source import the same URL, so a warm worker imports (and compiles) it once and the module
 * map of a long-lived worker does not grow with every task. Each file is written once per runner
 * lifetime, through a temp file and a rename, so an import never sees half a file nor trusts a file
 * left by someone else.
 */
export class SourceCache {
  private readonly given: string | undefined
  private dir: Promise<string> | undefined
  /** Insertion order is use order: an entry is moved to the end when used. */
  private readonly entries = new Map<string, Entry>()
  /** Files being deleted, by hash: writing the same file again waits for its deletion. */
  private readonly removals = new Map<string, Promise<void>>()
  private tmpSeq = 0

  /** `dir`: where to keep the files; by default a private temp dir, removed by `close()`. */
  constructor (dir?: string) {
    this.given = dir
  }

  async acquire (source: string): Promise<CachedSource> {
    const hash = createHash('sha256').update(source).digest('hex')
    let e = this.entries.get(hash)
    if (e !== undefined) {
      this.entries.delete(hash)
    } else {
      const dir = await this.directory()
      const path = join(dir, `${hash}.mjs`)
      const tmp = join(dir, `${hash}.${process.pid}.${++this.tmpSeq}.tmp`)
      const removal = this.removals.get(hash)
      const written = (async () => {
        await removal
        await writeFile(tmp, source, { mode: 0o600 })
        await rename(tmp, path)
      })()
      e = { path, url: pathToFileURL(path).href, refs: 0, written }
      this.evict()
    }
    this.entries.set(hash, e)
    e.refs++
    const entry = e
    try {
      await entry.written
    } catch (err) {
      entry.refs--
      if (this.entries.get(hash) === entry) this.entries.delete(hash)
      throw err
    }
    let released = false
    return {
      path: entry.path,
      url: entry.url,
      release: () => {
        if (released) return
        released = true
        entry.refs--
      }
    }
  }

  /** Removes the files (and the temp dir when it is ours). Call it once no run uses them. */
  async close (): Promise<void> {
    const dir = this.dir
    this.dir = undefined
    const entries = [...this.entries.values()]
    this.entries.clear()
    await Promise.allSettled(entries.map(async e => await e.written))
    await Promise.allSettled([...this.removals.values()])
    if (dir === undefined) return
    if (this.given === undefined) {
      await rm(await dir, { recursive: true, force: true }).catch(() => {})
    } else {
      await Promise.allSettled(entries.map(async e => { await unlink(e.path) }))
    }
  }

  private async directory (): Promise<string> {
    this.dir ??= this.given === undefined
      ? mkdtemp(join(tmpdir(), 'bidmesh-js-cache-'))
      : mkdir(this.given, { recursive: true, mode: 0o700 }).then(() => this.given ?? '')
    const dir = this.dir
    try {
      return await dir
    } catch (err) {
      // Try again next time (the disk may have been full).
      if (this.dir === dir) this.dir = undefined
      throw err
    }
  }

  /** Deletes the least recently used files no run is using, down to MAX_FILES. */
  private evict (): void {
    for (const [hash, e] of this.entries) {
      if (this.entries.size < MAX_FILES) return
      if (e.refs > 0) continue
      this.entries.delete(hash)
      const p = e.written.then(async () => { await unlink(e.path) }).catch(() => {})
      this.removals.set(hash, p)
      void p.finally(() => { if (this.removals.get(hash) === p) this.removals.delete(hash) })
    }
  }
}

import { readFile, stat } from 'node:fs/promises'
import type { TaskLog } from './log-store.js'

export interface CheckpointWatcherInit {
  path: string
  /** Poll period: `spec.checkpoint.intervalMs`. */
  intervalMs: number
  /** The bytes already known (the restored checkpoint): not uploaded again. */
  initial: Uint8Array | undefined
  maxBytes: number
  upload: (bytes: Uint8Array) => Promise<void>
  log: TaskLog
}

/**
 * Uploads `$BIDMESH_CHECKPOINT_FILE` of an exec task when it changes. Polls the file's stat
 * (fs.watch misses events on some file systems and across renames) at most once per interval,
 * reads it when size, mtime or inode changed and then held still for one poll, and uploads it
 * when the bytes differ from the last upload. Waiting for a still file keeps a checkpoint that
 * is being written in place (`echo x > file` truncates first) from going out half-written; a read
 * during which the stat changed is dropped too. Tasks should still write a temp file and rename
 * it over the checkpoint file. At exit the file is uploaded as it is.
 */
export class CheckpointWatcher {
  private readonly init: CheckpointWatcherInit
  private timer: ReturnType<typeof setTimeout> | undefined
  private seen = ''
  /** A changed stat seen at the last poll: uploaded once a poll finds it unchanged. */
  private candidate: string | undefined
  private last: Uint8Array | undefined
  private tick: Promise<void> | undefined
  private stopped = false
  private warnedSize = -1

  constructor (init: CheckpointWatcherInit) {
    this.init = init
    this.last = init.initial
  }

  /**
   * Notes the file as the runner left it (the restored checkpoint, or none). Call it before the
   * process starts, or a change the task makes at once would look like the starting state.
   */
  async prime (): Promise<void> {
    this.seen = await this.statKey() ?? ''
  }

  /** Starts polling. */
  start (): void {
    this.schedule()
  }

  /** Stops polling and uploads a last change, if any: called once the process has exited. */
  async flush (): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.tick
    await this.check(true)
  }

  private schedule (): void {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      this.tick = this.check(false).finally(() => { this.tick = undefined; this.schedule() })
    }, this.init.intervalMs)
  }

  private async statKey (): Promise<string | undefined> {
    try {
      const s = await stat(this.init.path, { bigint: true })
      return `${s.ino}:${s.size}:${s.mtimeNs}`
    } catch {
      return undefined
    }
  }

  private async check (final: boolean): Promise<void> {
    const before = await this.statKey()
    if (before === undefined || (!final && before === this.seen)) return
    if (!final && before !== this.candidate) {
      this.candidate = before
      return
    }
    let bytes: Uint8Array
    try {
      bytes = await readFile(this.init.path)
    } catch {
      return // removed or replaced meanwhile: the next poll sees what is there
    }
    if (!final && await this.statKey() !== before) return
    if (bytes.byteLength > this.init.maxBytes) {
      if (this.warnedSize !== bytes.byteLength) {
        this.warnedSize = bytes.byteLength
        this.init.log.append('sys', `checkpoint not uploaded: ${bytes.byteLength} bytes is more than the limit of ${this.init.maxBytes}`)
      }
      this.seen = before
      return
    }
    if (this.last !== undefined && Buffer.compare(bytes, this.last) === 0) {
      this.seen = before
      return
    }
    try {
      await this.init.upload(bytes)
      this.last = bytes
      this.seen = before
    } catch (err) {
      // `seen` stays: the next poll tries again.
      this.init.log.append('sys', `checkpoint upload failed: ${(err as Error).message}`)
    }
  }
}

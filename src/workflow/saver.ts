/**
 * Coalesced saves of one run: at most one save in flight, and every change made meanwhile goes
 * out together in the next one. A 1,023-task tree thus costs one save per wave of changes, not
 * one per task, while `afterSaved` still lets the driver hand out a task only once a save that
 * records it has completed.
 */
export interface SaverInit {
  /** Builds the snapshot to save now (called when a save starts, so it holds every change so far). */
  snapshot: () => unknown
  /** Stores a snapshot; a rejection is retried after `retryDelayMs`. */
  write: (snapshot: unknown, signal: AbortSignal) => Promise<void>
  /** Called with each failure, for status pages. */
  onError?: (err: unknown) => void
  /** @default 250, doubling to 5000 */
  retryDelayMs?: number
}

export class CoalescingSaver {
  private changes = 0
  private saved = 0
  private running = false
  private readonly waiters: Array<{ version: number, run: () => void }> = []
  private readonly abort = new AbortController()
  private retryTimer?: ReturnType<typeof setTimeout>
  private idle?: { promise: Promise<void>, resolve: () => void }

  constructor (private readonly init: SaverInit) {}

  /** Notes a change; returns its version, which the next save to start will cover. */
  changed (): number {
    this.changes++
    this.kick()
    return this.changes
  }

  /** Runs `fn` once a save covering `version` has completed (at once when one already has). */
  afterSaved (version: number, fn: () => void): void {
    if (this.saved >= version) { fn(); return }
    this.waiters.push({ version, run: fn })
  }

  /** The newest change noted so far. */
  get version (): number {
    return this.changes
  }

  /** True when every change so far is saved. */
  get clean (): boolean {
    return this.saved >= this.changes
  }

  /** Resolves once every change so far is saved (or the saver stopped). */
  async flushed (): Promise<void> {
    if (this.clean || this.abort.signal.aborted) return
    this.idle ??= Promise.withResolvers<void>()
    await this.idle.promise
  }

  /** Stops saving: the save in flight is aborted, waiting hand-outs are dropped. */
  stop (): void {
    this.abort.abort()
    clearTimeout(this.retryTimer)
    this.waiters.length = 0
    this.idle?.resolve()
  }

  private kick (): void {
    if (this.running || this.abort.signal.aborted) return
    this.running = true
    void this.loop(this.init.retryDelayMs ?? 250)
  }

  private async loop (delay: number): Promise<void> {
    while (this.saved < this.changes && !this.abort.signal.aborted) {
      const covering = this.changes
      try {
        await this.init.write(this.init.snapshot(), this.abort.signal)
      } catch (err) {
        if (this.abort.signal.aborted) break
        this.init.onError?.(err)
        // A store that is down now may be back soon; until then nothing new is handed out.
        this.retryTimer = setTimeout(() => { void this.loop(Math.min(5_000, delay * 2)) }, delay)
        return
      }
      delay = this.init.retryDelayMs ?? 250
      this.saved = Math.max(this.saved, covering)
      const due = this.waiters.filter(w => w.version <= this.saved)
      if (due.length > 0) {
        const rest = this.waiters.filter(w => w.version > this.saved)
        this.waiters.length = 0
        this.waiters.push(...rest)
        for (const w of due) w.run()
      }
    }
    this.running = false
    if (this.clean) { this.idle?.resolve(); this.idle = undefined }
  }
}

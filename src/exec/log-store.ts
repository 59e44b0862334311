import { createWriteStream, type WriteStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { StringDecoder } from 'node:string_decoder'
import { deferred } from './util.js'

/**
 * Where a line came from: the task's stdout (`out`) or stderr (`err`) — for a js task,
 * `console.log`/`ctx.log` and `console.error` — or the runner itself (`sys`: start, exit, signals).
 */
export type LogStream = 'out' | 'err' | 'sys'

/** One line as stored in the log file: `<ISO time> <stream> <text>`. */
export interface LogRecord {
  ts: number
  stream: LogStream
  text: string
}

/** One line in memory; `seq` counts the lines of one attempt from 1, with no gaps. */
export interface LogLine extends LogRecord {
  seq: number
}

export interface FollowOptions {
  /**
   * Yield the lines after this `seq` (those still in memory) before waiting for new ones; pass the
   * `seq` of the last line of a `tail()` to continue it without a gap or a repeat.
   * @default the current last line: only new lines
   */
  after?: number
  /** Stops the iteration (without an error). */
  signal?: AbortSignal
}

export interface TaskLogInit {
  taskId: string
  attempt: number
  /** The log file (appended to). */
  path: string
  tailLines: number
  tailChars: number
  maxLineChars: number
  now: () => number
}

/** Formats a line the way the log file stores it. */
export function formatLogLine (line: LogRecord): string {
  return `${new Date(line.ts).toISOString()} ${line.stream} ${line.text}`
}

const LINE = /^(\S+) (out|err|sys) (.*)$/s

/** Parses a line of a log file; undefined when it is not in the `<ISO time> <stream> <text>` form. */
export function parseLogLine (s: string): LogRecord | undefined {
  const m = LINE.exec(s)
  if (m === null) return undefined
  const ts = Date.parse(m[1] ?? '')
  if (Number.isNaN(ts)) return undefined
  return { ts, stream: m[2] as LogStream, text: m[3] ?? '' }
}

/**
 * The output of one attempt: every line goes to the log file, and the newest lines also stay in
 * a bounded in-memory tail that `tail()` and `follow()` read.
 */
export class TaskLog {
  readonly taskId: string
  readonly attempt: number
  readonly path: string
  private readonly init: TaskLogInit
  private readonly lines: LogLine[] = []
  private chars = 0
  private seq = 0
  private file: WriteStream | undefined
  /** Lines written before the file was opened (the work dir may not exist yet). */
  private pendingFile: string[] | undefined = []
  private fileError: Error | undefined
  private readonly partial = new Map<'out' | 'err', { decoder: StringDecoder, text: string }>()
  private wake = deferred()
  private readonly listeners = new Set<(line: LogLine) => void>()
  private closed = false

  constructor (init: TaskLogInit) {
    this.init = init
    this.taskId = init.taskId
    this.attempt = init.attempt
    this.path = init.path
  }

  /** True once the task has ended and the last line is in: `follow()` iterations finish. */
  get ended (): boolean {
    return this.closed
  }

  /** The `seq` of the newest line (0 before the first). */
  get lastSeq (): number {
    return this.seq
  }

  /** Opens the log file (its directory must exist) and writes the lines that came before. */
  openFile (): void {
    if (this.file !== undefined || this.closed) return
    const file = createWriteStream(this.path, { flags: 'a' })
    // A full disk must not crash the node: keep the in-memory tail and say so once.
    file.on('error', err => {
      if (this.fileError === undefined) {
        this.fileError = err
        this.append('sys', `cannot write the log file ${this.path}: ${err.message}`)
      }
    })
    this.file = file
    for (const s of this.pendingFile ?? []) file.write(s)
    this.pendingFile = undefined
  }

  /** Appends a whole line (used for the runner's own `sys` lines and a js task's `ctx.log`). */
  append (stream: LogStream, text: string): void {
    if (this.closed) return
    for (const piece of text.split('\n')) this.push(stream, piece.endsWith('\r') ? piece.slice(0, -1) : piece)
  }

  /**
   * Appends raw output of a stream; a line is complete at '\n' (a trailing '\r' is dropped).
   * Returns false when the log file is behind: pause the source until `drained()` resolves, so
   * that a task printing faster than the disk writes blocks on its pipe instead of filling memory.
   */
  write (stream: 'out' | 'err', chunk: Uint8Array | string): boolean {
    if (this.closed) return true
    let p = this.partial.get(stream)
    if (p === undefined) {
      p = { decoder: new StringDecoder('utf8'), text: '' }
      this.partial.set(stream, p)
    }
    const text = p.text + (typeof chunk === 'string' ? chunk : p.decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)))
    const parts = text.split('\n')
    p.text = parts.pop() ?? ''
    for (const line of parts) this.push(stream, line.endsWith('\r') ? line.slice(0, -1) : line)
    // Output without newlines must not grow memory without bound.
    while (p.text.length >= this.init.maxLineChars) {
      this.push(stream, p.text.slice(0, this.init.maxLineChars))
      p.text = p.text.slice(this.init.maxLineChars)
    }
    return this.file === undefined || this.fileError !== undefined || !this.file.writableNeedDrain
  }

  /** Resolves when the log file has caught up (at once when it is not behind). */
  async drained (): Promise<void> {
    const file = this.file
    if (file === undefined || this.fileError !== undefined || !file.writableNeedDrain) return
    await new Promise<void>(resolve => {
      const done = (): void => {
        file.off('drain', done)
        file.off('close', done)
        file.off('error', done)
        resolve()
      }
      file.on('drain', done)
      file.on('close', done)
      file.on('error', done)
    })
  }

  /** The newest `n` lines in memory (all of them when `n` is left out). */
  tail (n?: number): LogLine[] {
    if (n === undefined) return this.lines.slice()
    if (n <= 0) return []
    return this.lines.slice(-n)
  }

  /**
   * The lines after `options.after`, then each new line as it comes, until the task ends or the
   * signal aborts. A follower that falls behind the in-memory tail gets one `sys` line saying how
   * many lines it missed (they are in the log file).
   */
  async * follow (options: FollowOptions = {}): AsyncGenerator<LogLine, void, undefined> {
    const { signal } = options
    let cursor = options.after ?? this.seq
    while (signal?.aborted !== true) {
      const first = this.lines[0]
      if (first !== undefined && first.seq > cursor + 1) {
        const missed = first.seq - cursor - 1
        cursor = first.seq - 1
        yield { seq: cursor, ts: first.ts, stream: 'sys', text: `[${missed} lines not kept in memory; see ${this.path}]` }
        continue
      }
      const next = first === undefined ? undefined : this.lines[cursor + 1 - first.seq]
      if (next !== undefined) {
        cursor = next.seq
        yield next
        continue
      }
      if (this.closed) return
      await this.changed(signal)
    }
  }

  /** Calls `listener` with every new line, synchronously; returns the function that unsubscribes. */
  onLine (listener: (line: LogLine) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Appends what a stream wrote after its last newline: call it once the stream has ended. */
  flushPartial (): void {
    for (const [stream, p] of this.partial) {
      const rest = p.text + p.decoder.end()
      if (rest !== '') this.push(stream, rest)
    }
    this.partial.clear()
  }

  /** Flushes partial lines, closes the file and ends every `follow()`. */
  async close (): Promise<void> {
    if (this.closed) return
    this.flushPartial()
    this.closed = true
    this.listeners.clear()
    this.wake.resolve()
    const file = this.file
    this.pendingFile = undefined
    if (file === undefined || file.destroyed) return
    await new Promise<void>(resolve => {
      file.end(() => { resolve() })
      // 'error' after end (disk full at flush) must not leave close() hanging.
      file.once('error', () => { resolve() })
    })
  }

  private push (stream: LogStream, text: string): void {
    for (let i = 0; i < text.length || i === 0; i += this.init.maxLineChars) {
      this.pushOne(stream, text.slice(i, i + this.init.maxLineChars))
    }
  }

  private pushOne (stream: LogStream, text: string): void {
    const line: LogLine = { seq: ++this.seq, ts: this.init.now(), stream, text }
    this.lines.push(line)
    this.chars += text.length
    while (this.lines.length > 1 && (this.lines.length > this.init.tailLines || this.chars > this.init.tailChars)) {
      const dropped = this.lines.shift()
      if (dropped !== undefined) this.chars -= dropped.text.length
    }
    const s = formatLogLine(line) + '\n'
    if (this.pendingFile !== undefined) this.pendingFile.push(s)
    else if (this.file !== undefined && this.fileError === undefined) this.file.write(s)
    for (const l of this.listeners) l(line)
    this.wake.resolve()
    this.wake = deferred()
  }

  private async changed (signal: AbortSignal | undefined): Promise<void> {
    if (signal === undefined) { await this.wake.promise; return }
    const aborted = deferred()
    const onAbort = (): void => { aborted.resolve() }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await Promise.race([this.wake.promise, aborted.promise])
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }
}

export interface LogStoreInit {
  tailLines: number
  tailChars: number
  maxLineChars: number
  /** Logs of finished attempts kept in memory. */
  retainFinished: number
  now: () => number
}

/**
 * The logs of the attempts this node runs or ran lately, by task id (the newest attempt wins).
 * The node serves `GET /v1/tasks/:id/logs` from it: `get(id)?.tail(n)`, then `follow()`.
 */
export class LogStore {
  private readonly init: LogStoreInit
  private readonly logs = new Map<string, TaskLog>()
  private readonly finished: TaskLog[] = []

  constructor (init: LogStoreInit) {
    this.init = init
  }

  /** Starts the log of an attempt; it replaces the log of an older attempt of the same task. */
  create (taskId: string, attempt: number, path: string): TaskLog {
    const log = new TaskLog({ taskId, attempt, path, tailLines: this.init.tailLines, tailChars: this.init.tailChars, maxLineChars: this.init.maxLineChars, now: this.init.now })
    const old = this.logs.get(taskId)
    if (old !== undefined) this.forget(old)
    this.logs.set(taskId, log)
    return log
  }

  /** The newest log of a task on this node (running or among the retained finished ones). */
  get (taskId: string): TaskLog | undefined {
    return this.logs.get(taskId)
  }

  list (): TaskLog[] {
    return [...this.logs.values()]
  }

  /** Closes a log and keeps it among the finished ones, dropping the oldest beyond the bound. */
  async finish (log: TaskLog): Promise<void> {
    await log.close()
    if (this.logs.get(log.taskId) !== log) return
    this.finished.push(log)
    while (this.finished.length > this.init.retainFinished) {
      const old = this.finished.shift()
      if (old !== undefined && this.logs.get(old.taskId) === old) this.logs.delete(old.taskId)
    }
  }

  private forget (log: TaskLog): void {
    const i = this.finished.indexOf(log)
    if (i >= 0) this.finished.splice(i, 1)
    this.logs.delete(log.taskId)
  }
}

/**
 * The last `n` lines of a log file, for attempts no longer in memory (after a node restart).
 * Reads at most `maxBytes` from the end of the file; lines not in the log format are skipped.
 */
export async function readLogFileTail (path: string, n: number, options: { maxBytes?: number, signal?: AbortSignal } = {}): Promise<LogRecord[]> {
  const maxBytes = options.maxBytes ?? 1024 * 1024
  options.signal?.throwIfAborted()
  const fh = await open(path, 'r')
  try {
    const { size } = await fh.stat()
    const start = Math.max(0, size - maxBytes)
    const buf = Buffer.alloc(size - start)
    await fh.read(buf, 0, buf.length, start)
    options.signal?.throwIfAborted()
    const lines = buf.toString('utf8').split('\n')
    if (start > 0) lines.shift() // most likely cut in the middle
    const out: LogRecord[] = []
    for (const s of lines) {
      const r = parseLogLine(s)
      if (r !== undefined) out.push(r)
    }
    return n <= 0 ? [] : out.slice(-n)
  } finally {
    await fh.close()
  }
}

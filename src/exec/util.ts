/** A promise with its resolve function outside (Node 20 lacks Promise.withResolvers). */
export interface Deferred<T> {
  promise: Promise<T>
  resolve: (value: T) => void
}

export function deferred<T = void> (): Deferred<T> {
  let resolve!: (value: T) => void
  const promise = new Promise<T>(r => { resolve = r })
  return { promise, resolve }
}

/** Readable text of an abort reason or a thrown value. */
export function reasonText (reason: unknown, fallback: string): string {
  if (reason instanceof Error) return reason.message === '' ? fallback : reason.message
  if (typeof reason === 'string' && reason !== '') return reason
  return fallback
}

/**
 * Resolves when `promise` settles or after `ms` (false then), whichever is first; also resolves
 * false at once when `signal` aborts. Never rejects. The timer does not hold the process open.
 */
export async function within (promise: Promise<unknown>, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted === true) return false
  const d = deferred<boolean>()
  const timer = setTimeout(() => { d.resolve(false) }, ms)
  timer.unref()
  const onAbort = (): void => { d.resolve(false) }
  signal?.addEventListener('abort', onAbort, { once: true })
  promise.then(() => { d.resolve(true) }, () => { d.resolve(true) })
  try {
    return await d.promise
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
}

/** Output of a child process or worker into a task log, pausing the source while the file is behind. */
export function pipeToLog (source: NodeJS.ReadableStream, log: { write: (stream: 'out' | 'err', chunk: Uint8Array) => boolean, drained: () => Promise<void> }, stream: 'out' | 'err'): void {
  source.on('data', (chunk: Buffer) => {
    if (!log.write(stream, chunk)) {
      source.pause()
      void log.drained().then(() => source.resume())
    }
  })
}

/** `promise`, or a rejection as soon as `signal` aborts (the promise is left to settle alone). */
export async function raceAbort<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(signal.reason instanceof Error ? signal.reason : new Error(reasonText(signal.reason, 'aborted'))) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}

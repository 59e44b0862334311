import { readFile } from 'node:fs/promises'
import { isNode, LineCounter, parseDocument, type Document } from 'yaml'
import { ValidationError, type FieldIssue } from '../core/errors.js'
import { parseTaskSpec } from '../core/task-spec.js'

/**
 * Task spec files for `bidmesh submit`: YAML, or JSON when the name ends in `.json`; `-` reads
 * stdin (as YAML, which also reads JSON). Every error names the file and the line, so that a
 * typo in a long spec is found without reading the whole file.
 */
export interface SpecFile {
  /** The file name as the user gave it (`<stdin>` for `-`). */
  name: string
  /** The parsed document, as written: defaults are filled in by the node. */
  spec: unknown
  /** `file:line` of a dotted field path (`resources.cpu`, `command[1]`), or of its nearest parent. */
  where: (path: string) => string | undefined
}

export async function readSpecFile (file: string, readStdin: () => Promise<string>): Promise<SpecFile> {
  const name = file === '-' ? '<stdin>' : file
  let text: string
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8')
  } catch (err: any) {
    throw new ValidationError('task spec file', [{ path: name, message: `cannot read it (${err.code ?? err.message})` }])
  }
  const lines = new LineCounter()
  // YAML locates fields for schema errors in JSON files too (JSON is YAML); a JSON syntax
  // error is reported by JSON.parse below.
  const doc = parseDocument(text, { lineCounter: lines })
  let spec: unknown
  if (/\.json$/i.test(file)) {
    try {
      spec = JSON.parse(text)
    } catch (err) {
      const { line, col } = lines.linePos(jsonErrorOffset(text))
      throw syntaxError(name, line, col, err instanceof Error ? err.message : String(err))
    }
  } else {
    const first = doc.errors[0]
    if (first !== undefined) {
      const pos = first.linePos?.[0] ?? { line: 1, col: 1 }
      // The message ends with " at line N, column M:" and a code excerpt; file:line:col says it.
      throw syntaxError(name, pos.line, pos.col, (first.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, ''))
    }
    spec = doc.toJS()
  }
  if (spec === null || spec === undefined) throw new ValidationError('task spec file', [{ path: name, message: 'is empty' }])
  return { name, spec, where: path => where(doc, lines, name, path) }
}

/** Validates the spec as the node will, so bad input fails here (exit 2) with file lines. */
export function checkSpec (file: SpecFile): void {
  try {
    parseTaskSpec(file.spec)
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err
    throw new ValidationError('task spec', err.issues.map((i): FieldIssue => {
      const at = file.where(i.path)
      return { path: at === undefined ? i.path : i.path === '' ? at : `${i.path} (${at})`, message: i.message }
    }))
  }
}

function syntaxError (name: string, line: number, col: number, message: string): ValidationError {
  return new ValidationError('task spec file', [{ path: `${name}:${line}:${col}`, message }])
}

function where (doc: Document, lines: LineCounter, name: string, path: string): string | undefined {
  if (doc.errors.length > 0) return undefined
  // `tasks[2].needs` → ['tasks', 2, 'needs']
  const segments = [...path.matchAll(/\[(\d+)\]|([^.[\]]+)/g)].map(m => m[1] !== undefined ? Number(m[1]) : m[2] ?? '')
  // A missing field has no line of its own: point at the closest parent that exists.
  for (let n = segments.length; n > 0; n--) {
    const node = doc.getIn(segments.slice(0, n), true)
    if (isNode(node) && node.range !== undefined && node.range !== null) return `${name}:${lines.linePos(node.range[0]).line}`
  }
  return undefined
}

/**
 * Where JSON.parse gave up, as an offset. Node 20 does not always say (`Unexpected token '}'`),
 * so find the shortest prefix that is broken before its end: errors only ever grow with the text.
 */
function jsonErrorOffset (text: string): number {
  const broken = (n: number): boolean => {
    try {
      JSON.parse(text.slice(0, n))
      return false
    } catch (err) {
      const message = err instanceof Error ? err.message : ''
      const pos = /at position (\d+)/.exec(message)
      if (pos !== null) return Number(pos[1]) < n
      return !/Unexpected end/.test(message)
    }
  }
  if (!broken(text.length)) return text.length
  let lo = 0
  let hi = text.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (broken(mid)) hi = mid
    else lo = mid + 1
  }
  return Math.max(0, lo - 1)
}

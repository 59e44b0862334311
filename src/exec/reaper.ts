import { spawn, type ChildProcess } from 'node:child_process'

/**
 * Kills the process groups still listed when its stdin closes. The node tells it `+ PGID` when an
 * exec task starts and `- PGID` when the task's group is gone; a node killed with SIGKILL closes
 * the pipe without a word, and the reaper ends what it left. POSIX sh, so it costs ~1 MB and no
 * second Node.js.
 */
const REAPER_SCRIPT = `
pgs=" "
while read -r op pg; do
  case "$op" in
    +) pgs="$pgs$pg " ;;
    -) case "$pgs" in *" $pg "*) pgs="\${pgs%%" $pg "*} \${pgs#*" $pg "}" ;; esac ;;
  esac
done
for pg in $pgs; do kill -KILL -"$pg" 2>/dev/null; done
`

/**
 * An exec task runs in its own process group, which outlives the node if the node dies by
 * SIGKILL: the orphan would keep running while the mesh re-places its task elsewhere — two
 * copies of one attempt. Linux's PR_SET_PDEATHSIG is out of reach from Node.js, so a tiny
 * watcher process holds a pipe to the node and kills the groups when the pipe closes.
 */
export class ProcessReaper {
  private child: ChildProcess | undefined
  private failed = false

  track (pgid: number): void {
    this.write(`+ ${pgid}\n`)
  }

  untrack (pgid: number): void {
    this.write(`- ${pgid}\n`)
  }

  /** Closes the pipe: the reaper kills whatever is still listed (nothing, after a clean stop) and exits. */
  close (): void {
    this.child?.stdin?.end()
    this.child = undefined
  }

  private write (line: string): void {
    const child = this.ensure()
    if (child?.stdin?.writable === true) child.stdin.write(line)
  }

  private ensure (): ChildProcess | undefined {
    if (this.child !== undefined || this.failed) return this.child
    try {
      const child = spawn('/bin/sh', ['-c', REAPER_SCRIPT], {
        // Its own group, so that a signal to the node's group does not take the reaper first.
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore']
      })
      child.on('error', () => { this.failed = true; this.child = undefined })
      child.stdin?.on('error', () => {})
      // Neither the process nor its pipe may keep the node's event loop alive.
      child.unref()
      ;(child.stdin as unknown as { unref?: () => void } | null)?.unref?.()
      this.child = child
    } catch {
      // No /bin/sh (not a POSIX system): orphans are then possible, as without the reaper.
      this.failed = true
    }
    return this.child
  }
}

/** One per process: every runner's exec tasks are listed with it. */
export const processReaper = new ProcessReaper()

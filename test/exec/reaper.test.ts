import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { ProcessReaper } from '../../src/exec/reaper.js'
import { waitFor } from '../helpers/wait.js'

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

function sleeper (): number {
  const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' })
  child.unref()
  return child.pid!
}

describe('process reaper', () => {
  it('kills the groups still listed when its pipe closes (the node died), and spares the ones taken off', async () => {
    const reaper = new ProcessReaper()
    const listed = sleeper()
    const taken = sleeper()
    const other = sleeper()
    reaper.track(listed)
    reaper.track(taken)
    reaper.track(other)
    reaper.untrack(taken)
    reaper.untrack(other)
    reaper.track(other)
    // Closing the pipe is what the kernel does for a node killed with SIGKILL.
    reaper.close()
    await waitFor(() => !alive(listed) && !alive(other), 'the listed groups to be killed', 5_000)
    expect(alive(taken)).toBe(true)
    process.kill(-taken, 'SIGKILL')
  })
})

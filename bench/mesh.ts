// npm run bench -- mesh [sizes...]: mesh formation, advert propagation, gossip bytes, memory, failure detection.
import net from 'node:net'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSwarm } from '../test/helpers/nodes.js'
import { waitFor } from '../test/helpers/wait.js'
import { Swarm } from '../src/cli/swarm.js'
import { percentile, printTable, writeResults, type Row } from './lib.js'

// Count every byte libp2p writes to a TCP socket in this process: gossip, DHT, pings, identify.
let bytesWritten = 0
// eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound with call() below
const write = net.Socket.prototype.write
net.Socket.prototype.write = function (this: net.Socket, chunk: any, ...rest: any[]) {
  if (chunk instanceof Uint8Array) bytesWritten += chunk.byteLength
  else if (typeof chunk === 'string') bytesWritten += Buffer.byteLength(chunk)
  return (write as any).call(this, chunk, ...rest)
} as typeof write

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function inProcess (n: number): Promise<Row> {
  const rssBefore = process.memoryUsage().rss
  const t0 = performance.now()
  const swarm = await startSwarm(n, () => ({ capacity: { cpu: 4, memMb: 8192 } }))
  const started = performance.now() - t0
  try {
    // One process hosts every node here, so past ~20 nodes one core's worth of signature checks
    // becomes the limit: record how far the views got rather than give up.
    let complete: number | string
    try {
      await waitFor(() => swarm.nodes.every(node => node.view.alive().length === n), `${n} complete views`, 60_000, 10)
      complete = Math.round(performance.now() - t0)
    } catch {
      const full = swarm.nodes.filter(node => node.view.alive().length === n).length
      complete = `>60000 (${full}/${n} complete)`
    }
    // Let the mesh settle (grafts, DHT self-queries) before measuring steady state.
    await sleep(3_000)
    const delays: number[] = []
    const offs = swarm.nodes.map(node => node.events.on('peer:advert', a => { delays.push(Date.now() - a.ts) }))
    const b0 = bytesWritten
    const window = 5_000
    await sleep(window)
    const bytesPerNodePerS = (bytesWritten - b0) / n / (window / 1000)
    for (const off of offs) off()
    global.gc?.()
    const rssPerNode = (process.memoryUsage().rss - rssBefore) / n / 2 ** 20
    return {
      nodes: n,
      'start all (ms)': Math.round(started),
      'views complete (ms)': complete,
      'advert p50 (ms)': percentile(delays, 50),
      'advert p99 (ms)': percentile(delays, 99),
      'bytes/node/s': Math.round(bytesPerNodePerS),
      'RSS/node (MB)': Number(rssPerNode.toFixed(1))
    }
  } finally {
    await swarm.stop()
  }
}

function rssMb (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? Number.NaN : Number(m[1]) / 1024
}

/**
 * Follows a node's /v1/events stream: `open` resolves once the stream is live, `at` with the
 * time `peer` is reported `status`.
 */
function whenStatus (api: string, peer: string, status: string, signal: AbortSignal): { open: Promise<void>, at: Promise<number> } {
  const open = Promise.withResolvers<void>()
  const at = (async () => {
    const res = await fetch(`${api}/v1/events`, { signal })
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    let buf = ''
    for (;;) {
      open.resolve()
      const { value, done } = await reader.read()
      if (done) throw new Error('event stream ended')
      buf += value
      let i
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i)
        buf = buf.slice(i + 2)
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (data === undefined) continue
        const change = JSON.parse(data)
        if (change.peer === peer && change.to === status) return performance.now()
      }
    }
  })()
  at.catch(err => { open.reject(err) })
  return { open: open.promise, at }
}

async function processes (n: number, trials: number): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bidmesh-bench-'))
  // Node processes run the compiled CLI (npm run bench builds it first), as a user's swarm does.
  const cli = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js')
  const swarm = new Swarm({ nodes: n, basePort: 0, dataDir: dir, cli, nodeArgs: ['--cpu', '2', '--mem', '2048'] })
  const rows: Row[] = []
  try {
    const members = await swarm.start()
    await waitFor(async () => {
      const views = await Promise.all(members.map(async m => (await (await fetch(`${m.api}/v1/cluster`)).json()).counts.alive))
      return views.every(v => v === n)
    }, 'process views complete', 60_000, 200)
    await sleep(3_000)
    const rss = members.map(m => rssMb(m.pid))
    rows.push({ what: `RSS per idle node process (${n} processes)`, p50: percentile(rss, 50), max: Math.max(...rss), unit: 'MB' })

    const victims = new Set<number>()
    const detect = async (signal: 'SIGKILL' | 'SIGSTOP'): Promise<number[]> => {
      const out: number[] = []
      for (let t = 0; t < trials; t++) {
        const alive = swarm.members.filter(m => !victims.has(m.pid))
        const victim = alive[alive.length - 1]!
        const observers = alive.slice(0, -1)
        victims.add(victim.pid)
        const ac = new AbortController()
        const seen = observers.map(o => whenStatus(o.api, victim.peerId, 'dead', ac.signal))
        await Promise.all(seen.map(async s => { await s.open }))
        const t0 = performance.now()
        process.kill(victim.pid, signal)
        const times = await Promise.race([Promise.all(seen.map(async s => await s.at)), sleep(15_000).then(() => { throw new Error(`${signal}: not every view said dead within 15 s`) })])
        ac.abort()
        out.push(Math.max(...times) - t0)
        if (signal === 'SIGSTOP') { process.kill(victim.pid, 'SIGKILL') }
      }
      return out
    }
    const killed = await detect('SIGKILL')
    rows.push({ what: `SIGKILL until every view says dead (${killed.length} trials)`, p50: percentile(killed, 50), max: Math.max(...killed), unit: 'ms' })
    const frozen = await detect('SIGSTOP')
    rows.push({ what: `SIGSTOP until every view says dead (${frozen.length} trials)`, p50: percentile(frozen, 50), max: Math.max(...frozen), unit: 'ms' })
  } finally {
    await swarm.stop(2_000)
    rmSync(dir, { recursive: true, force: true })
  }
  return rows
}

export async function run (args: string[]): Promise<void> {
  const sizes = args.length > 0 ? args.map(Number) : [10, 25, 50]
  const mesh: Row[] = []
  for (const n of sizes) {
    mesh.push(await inProcess(n))
    printTable(`in-process mesh (${n} nodes)`, [mesh[mesh.length - 1]!])
  }
  const proc = await processes(10, 3)
  printTable('mesh: all nodes in one process', mesh)
  printTable('10 node processes (bidmesh node, compiled JS)', proc)
  console.log('\ngoals: views complete ≤ 2000 ms at 50 nodes; SIGKILL detection < 1000 ms; < 20 KB/s gossip per node at 50; < 80 MB RSS per idle node process')
  console.log('bytes/node/s counts every byte written to TCP (gossip, DHT, pings, identify), so it over-counts gossip.')
  console.log(`written to ${writeResults('mesh', { mesh, processes: proc })}`)
}

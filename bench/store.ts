// npm run bench -- store [nodes...]: signed record put/get latency (checkpoint sizes) on in-process swarms.
import { startSwarm } from '../test/helpers/nodes.js'
import { waitFor } from '../test/helpers/wait.js'
import { percentile, printTable, writeResults, type Row } from './lib.js'

const SIZES = [1024, 64 * 1024, 256 * 1024 - 512]

/**
 * Put and get latency of `ckpt` records on an n-node swarm: each trial puts from one node and
 * gets from another (the record is then on the reader too: K = 20 covers small swarms, and on
 * larger ones it measures whichever holds), round-robin over writers. Exported so the recovery
 * bench can reuse it.
 */
export async function storeLatency (nodes: number | number[], sizes: number[], trials: number): Promise<Row[]> {
  // bench/recovery.ts passes a list of swarm sizes; one size is the common case.
  if (Array.isArray(nodes)) {
    const rows: Row[] = []
    for (const n of nodes) rows.push(...await storeLatency(n, sizes, trials))
    return rows
  }
  const swarm = await startSwarm(nodes, () => ({ store: { republishIntervalMs: 86_400_000, maxRecordBytes: 256 * 1024 } }))
  try {
    // On a loaded machine a 30-node swarm may not finish dialing: measure anyway, and record how far it got.
    await waitFor(() => swarm.nodes.every(n => n.libp2p.getConnections().length >= nodes - 1), `${nodes} fully connected nodes`, 120_000, 50).catch(() => {})
    const minConns = Math.min(...swarm.nodes.map(n => n.libp2p.getConnections().length))
    const rows: Row[] = []
    for (const size of sizes) {
      const body = new Uint8Array(size).fill(size % 251)
      const puts: number[] = []
      const gets: number[] = []
      const acks: number[] = []
      for (let t = 0; t < trials; t++) {
        const writer = swarm.nodes[t % nodes]!
        const reader = swarm.nodes[(t + 1 + Math.floor(nodes / 2)) % nodes]!
        const id = `bench-${size}-${t}`
        let t0 = performance.now()
        const res = await writer.store.put('ckpt', id, { attempt: 1, seq: t, body }, { live: false })
        puts.push(performance.now() - t0)
        acks.push(res.acks)
        t0 = performance.now()
        const got = await reader.store.get('ckpt', id)
        gets.push(performance.now() - t0)
        if (got?.body.byteLength !== size) throw new Error(`get of ${id} returned ${got?.body.byteLength ?? 'nothing'}`)
      }
      rows.push({
        nodes,
        'body (KB)': Math.round(size / 1024),
        trials,
        'put p50 (ms)': percentile(puts, 50),
        'put p99 (ms)': percentile(puts, 99),
        'get p50 (ms)': percentile(gets, 50),
        'get p99 (ms)': percentile(gets, 99),
        'acks p50': percentile(acks, 50),
        'min conns': minConns
      })
    }
    return rows
  } finally {
    await swarm.stop()
  }
}

export async function run (args: string[]): Promise<void> {
  const sizes = args.length > 0 ? args.map(Number) : [10, 30]
  const trials = Number(process.env.BENCH_TRIALS ?? 20)
  const rows = await storeLatency(sizes, SIZES, trials)
  printTable('record store: checkpoint put / get latency (one process, 127.0.0.1)', rows)
  console.log(`\nwrote ${writeResults('store', { trials, sizes: SIZES, rows })}`)
}

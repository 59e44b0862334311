import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startSwarm, type TestSwarm } from '../helpers/nodes.js'
import { waitFor } from '../helpers/wait.js'

describe('an 8-node swarm of real libp2p nodes', () => {
  let swarm: TestSwarm

  beforeAll(async () => {
    swarm = await startSwarm(8, i => ({ capacity: { cpu: i + 1, memMb: 1024 * (i + 1) }, labels: { idx: String(i) } }))
  }, 60_000)

  afterAll(async () => { await swarm?.stop() })

  it('every view converges to all 8 peers with the right capacities', async () => {
    await waitFor(() => swarm.nodes.every(n => n.view.alive().length === 8), 'all views complete', 20_000)
    for (const node of swarm.nodes) {
      for (const peer of swarm.nodes) {
        const i = Number(peer.config.labels.idx)
        const entry = node.view.get(peer.peerId)
        expect(entry?.advert.capacity).toEqual({ cpu: (i + 1) * 1000, memMb: 1024 * (i + 1), gpu: 0 })
        expect(entry?.advert.labels).toEqual({ idx: String(i) })
      }
    }
  })

  it('a stopped node becomes dead everywhere; restarted on its data dir it has the same peer id and is alive again', async () => {
    const victim = swarm.nodes[5]!
    const id = victim.peerId
    const dir = victim.config.dataDir
    await victim.stop()
    swarm.nodes.splice(5, 1)
    await waitFor(() => swarm.nodes.every(n => n.view.status(id) === 'dead'), 'the stopped node to be dead in every view', 10_000)

    const back = await swarm.add({ capacity: { cpu: 6, memMb: 6144 } }, dir)
    expect(back.peerId).toBe(id)
    await waitFor(() => swarm.nodes.every(n => n.view.status(id) === 'alive'), 'the restarted node to be alive in every view', 20_000)
  })
})

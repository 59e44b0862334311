import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AUCTION_PROTOCOL, AUCTION_VERSION, encodeAuctionMessage } from '../../src/bidding/index.js'
import { FramedChannel } from '../../src/node/channel.js'
import { TASK_PROTOCOL } from '../../src/node/task-wire.js'
import { startSwarm, type TestSwarm } from '../helpers/nodes.js'
import { sleeperSpec, waitAllFinal } from '../helpers/tasks.js'
import { waitFor } from '../helpers/wait.js'

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v))

describe('hostile peers on the auction and task protocols', () => {
  let swarm: TestSwarm

  beforeAll(async () => {
    swarm = await startSwarm(4, () => ({ capacity: { cpu: 2, memMb: 2048 } }))
    await waitFor(() => swarm.nodes.every(n => n.view.alive().length === 4), 'complete views', 30_000)
  }, 60_000)

  afterAll(async () => { await swarm?.stop() })

  it('rejects and counts malformed messages, stray bids and uncalled awards; no node crashes', async () => {
    const [victim, other, helper, hostile] = swarm.nodes as [typeof swarm.nodes[0], typeof swarm.nodes[0], typeof swarm.nodes[0], typeof swarm.nodes[0]]
    const open = async (protocol: string): Promise<FramedChannel> => {
      const stream = await hostile.libp2p.dialProtocol(peerIdFromString(victim.peerId), protocol)
      return new FramedChannel(stream, victim.peerId, { onFrame: () => {} }, 1 << 20)
    }
    const auction = await open(AUCTION_PROTOCOL)
    const stats = (): any => victim.scheduler.debugStats()
    const before = structuredClone(stats())

    auction.send(enc('this is not json'))
    auction.send(new Uint8Array([0xc3, 0x28]))
    auction.send(enc({ type: 'cfb', v: AUCTION_VERSION, auction: 'x' }))
    auction.send(enc({ type: 'nonsense', v: 1 }))
    // Bids for tasks the victim never put up for auction.
    auction.send(encodeAuctionMessage({ type: 'bids', v: AUCTION_VERSION, auction: 'never-called', leaseMs: 100, bids: [{ task: 't-unknown', attempt: 1, score: 1 }], declines: [] }))
    // An award from a peer that never called for bids, for a hold that does not exist.
    auction.send(encodeAuctionMessage({ type: 'award', v: AUCTION_VERSION, auction: 'never-held', tasks: [{ task: 't-steal', attempt: 1 }] }))
    // A call for bids that claims to come from another peer.
    auction.send(encodeAuctionMessage({ type: 'cfb', v: AUCTION_VERSION, auction: 'spoof', from: other.peerId, leaseMs: 100, tasks: [{ task: 't-x', attempt: 1, framework: 'default', demand: { cpu: 100 }, constraints: {}, priority: 0, submittedAt: 0, kind: 'js', placement: 'spread' }] }))

    const task = await open(TASK_PROTOCOL)
    task.send(enc({ type: 'update', v: 1, task: 't-other', attempt: 1, state: 'succeeded', at: 1 }))
    task.send(enc({ type: 'update', v: 1 }))
    task.send(enc('{"unterminated'))

    await waitFor(() => {
      const s = stats()
      return s.counters.badAuctionFrames >= before.counters.badAuctionFrames + 4 &&
        s.counters.badTaskFrames >= before.counters.badTaskFrames + 2 &&
        s.counters.updatesFromStrangers >= before.counters.updatesFromStrangers + 1 &&
        s.bidder.invalid.senderMismatch >= before.bidder.invalid.senderMismatch + 1 &&
        s.bidder.invalid.unknownAuction + s.bidder.invalid.unknownHold > before.bidder.invalid.unknownAuction + before.bidder.invalid.unknownHold &&
        s.auctioneer.lateBids + s.auctioneer.invalidReplies > before.auctioneer.lateBids + before.auctioneer.invalidReplies
    }, 'every bad message to be counted', 10_000).catch(err => { throw new Error(`${err.message}: ${JSON.stringify(stats())}`) })

    // Nothing was started by the stolen award, and the mesh still places and runs work.
    expect(victim.scheduler.tasks.get('t-steal')).toBeUndefined()
    const owners = [victim, other, helper].map(node => ({ node, id: node.scheduler.submit(sleeperSpec('still fine', 10, { resources: { cpu: 0.5, memMb: 32 } })).id }))
    const final = await waitAllFinal(owners, 20_000)
    expect(final.map(s => s.state)).toEqual(['succeeded', 'succeeded', 'succeeded'])
    auction.close()
    task.close()
  })
})

import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BidmeshNode } from '../../src/node/node.js'
import { deleteLocalRecord, readLocalRecord, writeLocalRecord } from '../../src/store/local.js'
import { recordKey } from '../../src/store/record.js'
import { replicaAccess } from '../../src/store/replicas.js'
import { signRecord } from '../../src/store/signing.js'
import { startSwarm, type TestSwarm } from '../helpers/nodes.js'
import { waitFor } from '../helpers/wait.js'

const N = 5
const bytesOf = (s: string): Uint8Array => new TextEncoder().encode(s)
const textOf = (b: Uint8Array | undefined): string | undefined => b === undefined ? undefined : new TextDecoder().decode(b)

describe(`the record store on a ${N}-node swarm`, () => {
  let swarm: TestSwarm
  const node = (i: number): BidmeshNode => swarm.nodes[i]!
  const datastore = (n: BidmeshNode) => replicaAccess(n.libp2p.services.dht)!.datastore

  beforeAll(async () => {
    // No timed republish: the test triggers it, so it observes exactly one round.
    swarm = await startSwarm(N, () => ({ store: { republishIntervalMs: 86_400_000, maxRecordBytes: 256 * 1024 } }))
    await waitFor(() => swarm.nodes.every(n => n.libp2p.getConnections().length >= N - 1), 'every node connected to every other', 30_000)
  }, 60_000)

  afterAll(async () => { await swarm?.stop() })

  it('a put is readable from every node and held by every node (K > swarm size)', async () => {
    // quorum N: the put resolves once every node holds it (by default, at the first copy: this node's).
    const res = await node(0).store.put('ckpt', 'everywhere', { attempt: 1, seq: 1, body: bytesOf('state-1') }, { quorum: N })
    expect(res.acks).toBe(N)
    for (const n of swarm.nodes) {
      const got = await n.store.get('ckpt', 'everywhere')
      expect(textOf(got?.body)).toBe('state-1')
      expect(got?.author).toBe(node(0).peerId)
      expect(textOf((await n.store.getLocal('ckpt', 'everywhere'))?.body)).toBe('state-1')
    }
    await node(1).store.putJson('task', 't-json', { attempt: 2, seq: 5, value: { state: 'running', node: 'x' } })
    const json = await node(3).store.getJson<{ state: string }>('task', 't-json')
    expect(json?.value.state).toBe('running')
    expect(json?.header).toMatchObject({ kind: 'task', id: 't-json', attempt: 2, seq: 5, author: node(1).peerId })
    expect(await node(2).store.get('ckpt', 'never-written')).toBeUndefined()
  })

  it('resolves at the quorum without waiting for slower replicas', async () => {
    const res = await node(2).store.put('ckpt', 'early', { attempt: 1, seq: 1, body: bytesOf('e') }, { quorum: 2 })
    expect(res.acks).toBeGreaterThanOrEqual(2)
    // The rest are still written.
    await waitFor(async () => (await Promise.all(swarm.nodes.map(async n => await n.store.getLocal('ckpt', 'early')))).every(r => r !== undefined), 'every replica to hold it', 5_000)
  })

  it('counts acknowledgements and fails a put whose quorum is not reached, saying how many confirmed', async () => {
    expect((await node(2).store.put('ckpt', 'quorum', { attempt: 1, seq: 1, body: bytesOf('q') }, { quorum: N })).acks).toBe(N)
    await expect(node(2).store.put('ckpt', 'quorum', { attempt: 1, seq: 2, body: bytesOf('q') }, { quorum: N + 2 }))
      .rejects.toMatchObject({ name: 'QuorumError', acks: N, quorum: N + 2, message: expect.stringContaining(`${N} of the ${N + 2} required replicas confirmed`) })
  })

  it('a forged record is refused by every receiving node and never returned by get', async () => {
    const stranger = await generateKeyPair('Ed25519')
    const victim = node(0).peerId
    const access = replicaAccess(node(4).libp2p.services.dht)!
    const forgeries: Array<[string, Uint8Array, Uint8Array]> = [
      // Claims node 0 wrote it, signed by someone else.
      ['wrong author', recordKey('ckpt', 'forged'), await signRecord(stranger, { kind: 'ckpt', id: 'forged', attempt: 9, seq: 9, at: 0, author: victim }, bytesOf('evil'))],
      // A validly signed record stored under another task's key.
      ['key mismatch', recordKey('ckpt', 'forged'), await signRecord(stranger, { kind: 'ckpt', id: 'other', attempt: 9, seq: 9, at: 0, author: peerIdFromPrivateKey(stranger).toString() }, bytesOf('evil'))]
    ]
    const badSig = await signRecord(stranger, { kind: 'ckpt', id: 'forged', attempt: 9, seq: 9, at: 0, author: peerIdFromPrivateKey(stranger).toString() }, bytesOf('evil'))
    badSig[badSig.length - 1]! ^= 1
    forgeries.push(['bad signature', recordKey('ckpt', 'forged'), badSig])
    for (const [what, key, value] of forgeries) {
      const acks = await Promise.all(access.closest(key).map(async p => await access.putTo(p, key, value, AbortSignal.timeout(5_000))))
      expect(acks, what).toEqual(swarm.nodes.slice(0, N - 1).map(() => false))
      // The forger keeps it in its own datastore, where the DHT serves it from.
      await writeLocalRecord(datastore(node(4)), key, value)
      for (const n of swarm.nodes) expect(await n.store.get('ckpt', 'forged'), `${what} via ${n.peerId}`).toBeUndefined()
    }
    expect(node(0).store.stats().refused).toBeGreaterThan(0)
    await deleteLocalRecord(datastore(node(4)), recordKey('ckpt', 'forged'))
  })

  it('a lower attempt from a stale writer does not replace the newer record on replicas', async () => {
    await node(0).store.put('ckpt', 'fenced', { attempt: 2, seq: 1, body: bytesOf('new owner') }, { quorum: N })
    // A writer holding the newer copy is refused before anything is sent.
    await expect(node(3).store.put('ckpt', 'fenced', { attempt: 1, seq: 50, body: bytesOf('old owner') })).rejects.toMatchObject({ name: 'StaleRecordError' })
    // A stale node that lost its copy writes anyway: only its own datastore takes it.
    await deleteLocalRecord(datastore(node(3)), recordKey('ckpt', 'fenced'))
    await expect(node(3).store.put('ckpt', 'fenced', { attempt: 1, seq: 50, body: bytesOf('old owner') }, { quorum: 2, live: false }))
      .rejects.toMatchObject({ name: 'QuorumError', acks: 1 })
    for (const i of [0, 1, 2, 4]) expect(textOf((await node(i).store.getLocal('ckpt', 'fenced'))?.body)).toBe('new owner')
    // Reading through the stale node still gives the newer record, and repairs the stale copy.
    expect(textOf((await node(3).store.get('ckpt', 'fenced'))?.body)).toBe('new owner')
    await waitFor(async () => textOf((await node(3).store.getLocal('ckpt', 'fenced'))?.body) === 'new owner', 'the stale copy repaired', 5_000)
  })

  it('an oversized record fails at put with a clear error, and nothing is written', async () => {
    const body = new Uint8Array(256 * 1024)
    const err = await node(1).store.put('ckpt', 'huge', { attempt: 1, seq: 1, body }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'RecordTooLargeError', limit: 256 * 1024, issues: [{ path: 'body' }] })
    expect((err as Error).message).toMatch(/ckpt\/huge record.*body: the record is 26\d{4} bytes encoded \(body 262144 bytes\), over the 262144-byte limit/)
    for (const n of swarm.nodes) expect(await readLocalRecord(datastore(n), recordKey('ckpt', 'huge'))).toBeUndefined()
    // Just under the limit goes through.
    const fits = new Uint8Array(256 * 1024 - 300)
    expect((await node(1).store.put('ckpt', 'big', { attempt: 1, seq: 1, body: fits }, { quorum: N })).acks).toBe(N)
    expect((await node(2).store.get('ckpt', 'big'))?.body.byteLength).toBe(fits.byteLength)
  })

  it('republish restores a record on a node that lost it; get repairs one too', async () => {
    await node(0).store.put('ckpt', 'lost', { attempt: 1, seq: 1, body: bytesOf('keep me') })
    await deleteLocalRecord(datastore(node(2)), recordKey('ckpt', 'lost'))
    expect(await node(2).store.getLocal('ckpt', 'lost')).toBeUndefined()
    const before = node(0).store.stats().republished
    await node(0).store.republish()
    expect(node(0).store.stats().republished).toBeGreaterThan(before)
    expect(textOf((await node(2).store.getLocal('ckpt', 'lost'))?.body)).toBe('keep me')

    // A forgotten record is not republished, but a read still repairs a replica that lost it.
    node(0).store.forget('ckpt', 'lost')
    await deleteLocalRecord(datastore(node(2)), recordKey('ckpt', 'lost'))
    await node(0).store.republish()
    expect(await node(2).store.getLocal('ckpt', 'lost')).toBeUndefined()
    expect(textOf((await node(3).store.get('ckpt', 'lost'))?.body)).toBe('keep me')
    await waitFor(async () => (await node(2).store.getLocal('ckpt', 'lost')) !== undefined, 'the lost copy repaired by a read', 5_000)
    expect(node(3).store.stats().repaired).toBeGreaterThan(0)
  })

  it('a record survives the stop of the node that wrote it', async () => {
    const writer = node(N - 1)
    await writer.store.put('result', 'survivor', { attempt: 1, seq: 1, body: bytesOf('done') })
    await writer.stop()
    swarm.nodes.splice(N - 1, 1)
    for (const n of swarm.nodes) expect(textOf((await n.store.get('result', 'survivor', { timeoutMs: 5_000 }))?.body)).toBe('done')
  })
})

import type { NodeAdvert, PeerStatus } from '../core/advert.js'

export interface ClusterViewOptions {
  /** No advert for this long makes an alive peer `suspect` (and the node pings it). */
  suspectAfterMs: number
  /** No advert for this long makes a peer `dead`, ping or not. */
  deadAfterMs: number
  /** A dead peer is forgotten after this long. @default 1 hour */
  forgetAfterMs?: number
}

export interface PeerEntry {
  peer: string
  status: PeerStatus
  advert: NodeAdvert
  /** The newest sequence heard from the peer, by advert or heartbeat. */
  lastSeq: number
  /** Local clock when we last heard from the peer (advert or successful ping). */
  lastSeen: number
  /** Local clock when `status` last changed. */
  statusSince: number
  /** Why it is dead, for people reading `bidmesh status`. */
  reason?: string
}

export interface StatusChange {
  peer: string
  from: PeerStatus | 'unknown'
  to: PeerStatus
  reason: string
}

/**
 * One node's view of the mesh: per peer the newest advert (by `seq`) and a status
 * `alive | suspect | dead`. It is plain logic over an injected clock, so tests drive time.
 *
 * A peer goes `suspect` when its adverts stop, and `dead` when a ping then fails, when its
 * connection closes and a redial fails, or when it stays silent for `deadAfterMs`. Any newer
 * advert makes it `alive` again: a restarted node counts `seq` from the wall clock, so its
 * adverts are newer than those before its death.
 */
export class ClusterView {
  private readonly peers = new Map<string, PeerEntry>()
  private readonly forgetAfterMs: number
  private lastTick?: number

  constructor (readonly self: string, private readonly opts: ClusterViewOptions) {
    this.forgetAfterMs = opts.forgetAfterMs ?? 3_600_000
  }

  /** Takes an advert (already validated). Returns the status change it caused, if any, or 'stale'. */
  onAdvert (advert: NodeAdvert, now: number): StatusChange | 'stale' | undefined {
    const entry = this.peers.get(advert.peer)
    if (entry === undefined) {
      this.peers.set(advert.peer, { peer: advert.peer, status: 'alive', advert, lastSeq: advert.seq, lastSeen: now, statusSince: now })
      return { peer: advert.peer, from: 'unknown', to: 'alive', reason: 'first advert' }
    }
    if (advert.seq <= entry.lastSeq) return 'stale'
    entry.advert = advert
    entry.lastSeq = Math.max(entry.lastSeq, advert.seq)
    entry.lastSeen = now
    return this.setStatus(entry, 'alive', now, entry.status === 'dead' ? 'came back' : 'advert')
  }

  /**
   * Takes a heartbeat: proof of life for a peer whose advert we hold. A beat from a peer we have
   * no advert for is 'unknown' (its full advert will follow); an old one is 'stale'.
   */
  onHeartbeat (peer: string, seq: number, now: number): StatusChange | 'stale' | 'unknown' | undefined {
    const entry = this.peers.get(peer)
    if (entry === undefined) return 'unknown'
    if (seq <= entry.lastSeq) return 'stale'
    entry.lastSeq = seq
    entry.lastSeen = now
    return this.setStatus(entry, 'alive', now, entry.status === 'dead' ? 'came back' : 'heartbeat')
  }

  /** A ping or other direct exchange succeeded: the peer is there even if its adverts are late. */
  onHeardFrom (peer: string, now: number): StatusChange | undefined {
    const entry = this.peers.get(peer)
    if (entry === undefined || entry.status === 'dead') return undefined
    entry.lastSeen = now
    return this.setStatus(entry, 'alive', now, 'answered ping')
  }

  /** The peer failed a ping or a redial after its connection closed. */
  onUnreachable (peer: string, now: number, reason: string): StatusChange | undefined {
    const entry = this.peers.get(peer)
    if (entry === undefined || peer === this.self) return undefined
    return this.setStatus(entry, 'dead', now, reason)
  }

  /**
   * Advances time: silent peers become suspect, then dead; long-dead peers are forgotten.
   * Returns the changes and the peers that just became suspect (to ping).
   */
  tick (now: number): StatusChange[] {
    const changes: StatusChange[] = []
    const gap = this.lastTick === undefined ? 0 : now - this.lastTick
    this.lastTick = now
    // A gap longer than the suspect timeout means this node itself was frozen (SIGSTOP, a
    // stalled event loop): its peers' silence in that time is ours, not theirs. Judging them
    // by it would declare the whole mesh dead and re-place tasks that run fine elsewhere.
    const stalled = gap > this.opts.suspectAfterMs ? gap : 0
    for (const entry of this.peers.values()) {
      if (stalled > 0 && entry.status !== 'dead') entry.lastSeen = Math.min(now, entry.lastSeen + stalled)
      if (entry.peer === this.self) continue
      const silent = now - entry.lastSeen
      if (entry.status === 'dead') {
        if (now - entry.statusSince > this.forgetAfterMs) this.peers.delete(entry.peer)
        continue
      }
      let change: StatusChange | undefined
      if (silent > this.opts.deadAfterMs) change = this.setStatus(entry, 'dead', now, `silent for ${silent} ms`)
      else if (silent > this.opts.suspectAfterMs && entry.status === 'alive') change = this.setStatus(entry, 'suspect', now, `no advert for ${silent} ms`)
      if (change !== undefined) changes.push(change)
    }
    return changes
  }

  get (peer: string): PeerEntry | undefined {
    return this.peers.get(peer)
  }

  status (peer: string): PeerStatus | undefined {
    return this.peers.get(peer)?.status
  }

  entries (): PeerEntry[] {
    return [...this.peers.values()]
  }

  alive (): PeerEntry[] {
    return this.entries().filter(e => e.status === 'alive')
  }

  private setStatus (entry: PeerEntry, to: PeerStatus, now: number, reason: string): StatusChange | undefined {
    if (entry.status === to) return undefined
    const change: StatusChange = { peer: entry.peer, from: entry.status, to, reason }
    entry.status = to
    entry.statusSince = now
    if (to === 'dead') entry.reason = reason
    else delete entry.reason
    return change
  }
}

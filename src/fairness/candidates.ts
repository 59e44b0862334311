/**
 * One framework's best-fit scores for every node, in a tournament tree: a leaf per node holds its
 * score (shape distance `h`, then tightness, then id rank), each inner slot the better of its two
 * children. Re-scoring a node that changed costs O(log N) and the best node is at the root, so a
 * framework's turn costs the nodes changed since its last turn, not a scan of every node.
 */
export class Candidates {
  private readonly leaves: number
  private readonly h: Float64Array
  private readonly tight: Float64Array
  /** The winning node of each slot; leaves start at `leaves`. -1 for padding. */
  private readonly win: Int32Array

  /** Every node starts as "does not fit"; `set` the ones that do, then `build`. */
  constructor (nodes: number, private readonly idRank: Int32Array) {
    let leaves = 1
    while (leaves < nodes) leaves *= 2
    this.leaves = leaves
    this.h = new Float64Array(nodes).fill(Number.POSITIVE_INFINITY)
    this.tight = new Float64Array(nodes)
    this.win = new Int32Array(2 * leaves).fill(-1)
    for (let l = 0; l < nodes; l++) this.win[leaves + l] = l
  }

  /** Marks every node "does not fit", before a refill with `put` and `build`. */
  clear (): void {
    this.h.fill(Number.POSITIVE_INFINITY)
  }

  /** Records node l's score without updating the tree: for filling it before `build`. */
  put (l: number, h: number, tight: number): void {
    this.h[l] = h
    this.tight[l] = tight
  }

  build (): void {
    for (let i = this.leaves - 1; i >= 1; i--) this.win[i] = this.better(this.win[2 * i] ?? -1, this.win[2 * i + 1] ?? -1)
  }

  /** Re-scores node l; `h` is Infinity when the framework's task no longer fits there. */
  set (l: number, h: number, tight: number): void {
    this.h[l] = h
    this.tight[l] = tight
    for (let i = (this.leaves + l) >> 1; i >= 1; i >>= 1) {
      this.win[i] = this.better(this.win[2 * i] ?? -1, this.win[2 * i + 1] ?? -1)
    }
  }

  /** The best node that fits, or -1. */
  best (): number {
    const w = this.win[1] ?? -1
    return w >= 0 && (this.h[w] ?? Number.POSITIVE_INFINITY) < Number.POSITIVE_INFINITY ? w : -1
  }

  private better (a: number, b: number): number {
    if (a < 0) return b
    if (b < 0) return a
    const ha = this.h[a] ?? 0
    const hb = this.h[b] ?? 0
    if (ha !== hb) return ha < hb ? a : b
    const ta = this.tight[a] ?? 0
    const tb = this.tight[b] ?? 0
    if (ta !== tb) return ta < tb ? a : b
    return (this.idRank[a] ?? 0) < (this.idRank[b] ?? 0) ? a : b
  }
}

/**
 * A binary min-heap of framework indices ordered by `(key[i], rank[i])`. The keys live outside, in
 * a Float64Array the fill updates in place; only the top's key ever changes (it only grows), so
 * `updateTop` is all the fill needs. Ranks are distinct, which makes the order total: every node
 * that runs the same fill on the same input picks the same framework.
 */
export class IndexHeap {
  private readonly items: Int32Array
  private count = 0

  constructor (capacity: number, private readonly key: Float64Array, private readonly rank: Int32Array) {
    this.items = new Int32Array(capacity)
  }

  get size (): number {
    return this.count
  }

  /** The smallest index, or -1 when empty. */
  peek (): number {
    return this.count > 0 ? this.items[0] ?? -1 : -1
  }

  /** The heap's contents in no particular order. */
  contents (): number[] {
    return Array.from(this.items.subarray(0, this.count))
  }

  push (i: number): void {
    this.items[this.count] = i
    this.count++
    this.up(this.count - 1)
  }

  pop (): number {
    const top = this.peek()
    if (top < 0) return top
    this.count--
    if (this.count > 0) {
      this.items[0] = this.items[this.count] ?? 0
      this.down(0)
    }
    return top
  }

  /** Restores the order after the top's key grew. */
  updateTop (): void {
    if (this.count > 1) this.down(0)
  }

  /** Replaces the contents with `ids` in O(n). */
  reset (ids: readonly number[]): void {
    this.count = ids.length
    this.items.set(ids)
    for (let i = (this.count >> 1) - 1; i >= 0; i--) this.down(i)
  }

  private less (a: number, b: number): boolean {
    const ka = this.key[a] ?? 0
    const kb = this.key[b] ?? 0
    return ka < kb || (ka === kb && (this.rank[a] ?? 0) < (this.rank[b] ?? 0))
  }

  private up (pos: number): void {
    const items = this.items
    const id = items[pos] ?? 0
    while (pos > 0) {
      const parent = (pos - 1) >> 1
      const p = items[parent] ?? 0
      if (!this.less(id, p)) break
      items[pos] = p
      pos = parent
    }
    items[pos] = id
  }

  private down (pos: number): void {
    const items = this.items
    const n = this.count
    const id = items[pos] ?? 0
    for (;;) {
      let child = 2 * pos + 1
      if (child >= n) break
      const right = child + 1
      if (right < n && this.less(items[right] ?? 0, items[child] ?? 0)) child = right
      const c = items[child] ?? 0
      if (!this.less(c, id)) break
      items[pos] = c
      pos = child
    }
    items[pos] = id
  }
}

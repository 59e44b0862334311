/** A binary min-heap under `before(a, b)` ("a comes out first"). Small on purpose. */
export class Heap<T> {
  readonly #items: T[] = []
  readonly #before: (a: T, b: T) => boolean

  constructor (before: (a: T, b: T) => boolean, items: Iterable<T> = []) {
    this.#before = before
    for (const item of items) this.push(item)
  }

  get size (): number {
    return this.#items.length
  }

  push (item: T): void {
    const a = this.#items
    a.push(item)
    let i = a.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#before(a[i] as T, a[parent] as T)) break
      this.#swap(i, parent)
      i = parent
    }
  }

  pop (): T | undefined {
    const a = this.#items
    const top = a[0]
    const last = a.pop()
    if (a.length === 0 || last === undefined) return top
    a[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < a.length && this.#before(a[l] as T, a[m] as T)) m = l
      if (r < a.length && this.#before(a[r] as T, a[m] as T)) m = r
      if (m === i) break
      this.#swap(i, m)
      i = m
    }
    return top
  }

  #swap (i: number, j: number): void {
    const a = this.#items
    const t = a[i] as T
    a[i] = a[j] as T
    a[j] = t
  }
}

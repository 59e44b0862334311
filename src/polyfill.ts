// Node 20 lacks Promise.withResolvers, which libp2p 3 calls: every entry point imports this module first.
// eslint-disable-next-line @typescript-eslint/unbound-method
Promise.withResolvers ??= <T>() => { let resolve!: (v: T | PromiseLike<T>) => void, reject!: (e?: unknown) => void; const promise = new Promise<T>((a, b) => { resolve = a; reject = b }); return { promise, resolve, reject } }
export {}

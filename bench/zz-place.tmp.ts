import { drfPlace } from '../src/fairness/index.js'
function rng (seed: number) { let s = seed >>> 0; return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296 } }
for (const [nf, nn] of [[10, 1000], [100, 1000], [1000, 1000], [1000, 100]] as const) {
  const r = rng(nf * 31 + nn)
  const b = (lo: number, hi: number) => Math.round(lo + r() * (hi - lo))
  const nodes = Array.from({ length: nn }, (_, i) => ({ id: `n${i}`, capacity: { cpu: b(16, 64) * 1000, memMb: b(32, 256) * 1024, gpu: r() < 0.25 ? b(4, 8) : 0, disk: b(500, 2000) } }))
  const fws = Array.from({ length: nf }, (_, i) => ({ name: `f${i}`, demand: { cpu: b(1, 16) * 250, memMb: b(1, 64) * 256, ...(r() < 0.1 ? { gpu: 1 } : {}), disk: b(1, 50) }, ...(r() < 0.33 ? { maxTasks: b(1, 200) } : {}) }))
  drfPlace(nodes, fws)
  const c0 = process.cpuUsage(); const t = performance.now(); drfPlace(nodes, fws); const c = process.cpuUsage(c0)
  console.log(nf, nn, 'wall ms', (performance.now() - t).toFixed(1), 'cpu ms', (c.user / 1000).toFixed(1))
}

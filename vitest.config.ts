import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Swarm and end-to-end tests start many real nodes; on 2 cores they must not all run at once.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks'
  }
})

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ValidationError } from '../../src/core/errors.js'
import { nodeConfigFrom } from '../../src/cli/node-command.js'
import { configFromEnv, parseNodeConfig } from '../../src/node/config.js'

const dir = mkdtempSync(join(tmpdir(), 'bidmesh-config-'))

function issuesOf (fn: () => unknown): string[] {
  try {
    fn()
  } catch (err) {
    if (err instanceof ValidationError) return err.issues.map(i => `${i.path}: ${i.message}`)
    throw err
  }
  throw new Error('expected a ValidationError')
}

describe('node config', () => {
  it('fills sensible defaults', () => {
    const c = parseNodeConfig({})
    expect(c.api).toEqual({ host: '127.0.0.1', port: 7070 })
    expect(c.allowExec).toBe(false)
    expect(c.capacity.cpu).toBeGreaterThan(0)
    expect(c.capacity.memMb).toBeGreaterThan(0)
    expect(c.gossip.advertIntervalMs).toBe(1000)
  })

  it('precedence is defaults < file < env < flags', () => {
    const file = join(dir, 'node.yaml')
    writeFileSync(file, 'capacity:\n  cpu: 3\n  memMb: 1000\nlabels:\n  zone: a\nbootstrap: [/ip4/127.0.0.1/tcp/1/p2p/x]\n')
    const c = nodeConfigFrom({ config: file, mem: 2000 }, { BIDMESH_BOOTSTRAP: '/ip4/127.0.0.1/tcp/2/p2p/y' })
    expect(c.capacity.cpu).toBe(3)
    expect(c.capacity.memMb).toBe(2000)
    expect(c.labels).toEqual({ zone: 'a' })
    expect(c.bootstrap).toEqual(['/ip4/127.0.0.1/tcp/2/p2p/y'])
  })

  it('reads JSON config files too', () => {
    const file = join(dir, 'node.json')
    writeFileSync(file, JSON.stringify({ allowExec: true, api: { port: 0 } }))
    const c = nodeConfigFrom({ config: file }, {})
    expect(c.allowExec).toBe(true)
    expect(c.api.port).toBe(0)
  })

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['a negative cpu names the flag', { cpu: -2 }, /^--cpu \(capacity\.cpu\): /],
    ['an API port out of range names the flag', { apiPort: 70000 }, /^--api-port \(api\.port\): /],
    ['a public API host without a token', { apiHost: '0.0.0.0' }, /^--api-token \(api\.token\): is required/],
    ['a short token', { apiToken: 'short' }, /^--api-token \(api\.token\): must be at least 16/]
  ])('%s', (_name, flags, message) => {
    expect(issuesOf(() => nodeConfigFrom(flags, {}))).toEqual(expect.arrayContaining([expect.stringMatching(message)]))
  })

  it('names unknown and bad fields in a config file', () => {
    const file = join(dir, 'bad.yaml')
    writeFileSync(file, 'capacity:\n  cpu: lots\ncolour: blue\n')
    const issues = issuesOf(() => nodeConfigFrom({ config: file }, {}))
    expect(issues.join('\n')).toMatch(/--cpu \(capacity\.cpu\): .*expected number/)
    expect(issues.join('\n')).toMatch(/Unrecognized key.*colour/)
  })

  it('checks fields against each other', () => {
    const issues = issuesOf(() => parseNodeConfig({ gossip: { suspectAfterMs: 3000, deadAfterMs: 2000 } }))
    expect(issues).toEqual(['gossip.deadAfterMs: must be greater than gossip.suspectAfterMs (3000)'])
  })

  it('says when a config file is not valid YAML or not an object', () => {
    const bad = join(dir, 'broken.yaml')
    writeFileSync(bad, 'capacity: [unclosed\n')
    expect(issuesOf(() => nodeConfigFrom({ config: bad }, {}))[0]).toMatch(/not valid YAML/)
    const list = join(dir, 'list.yaml')
    writeFileSync(list, '- a\n- b\n')
    expect(issuesOf(() => nodeConfigFrom({ config: list }, {}))[0]).toMatch(/must hold an object/)
  })

  it('reads BIDMESH_* environment variables', () => {
    expect(configFromEnv({ BIDMESH_LISTEN: '/ip4/127.0.0.1/tcp/1, /ip4/127.0.0.1/tcp/2', BIDMESH_ALLOW_EXEC: 'true', BIDMESH_DATA: '/d' }))
      .toEqual({ listen: ['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2'], allowExec: true, dataDir: '/d' })
  })
})

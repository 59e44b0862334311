import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { LevelDatastore } from 'datastore-level'
import { BidmeshError } from '../core/errors.js'

/**
 * A node's data dir:
 * - `peer.key`: the Ed25519 peer key (protobuf), so a restarted node keeps its peer id;
 * - `datastore/`: LevelDB holding DHT records and the peer store;
 * - `tasks/`: per-task work dirs and logs.
 */
export async function loadOrCreatePeerKey (dataDir: string): Promise<PrivateKey> {
  await mkdir(dataDir, { recursive: true })
  const file = join(dataDir, 'peer.key')
  try {
    return privateKeyFromProtobuf(await readFile(file))
  } catch (err: any) {
    if (err.code !== 'ENOENT') {
      throw new BidmeshError(`cannot read the peer key ${file}: ${err.message}`, 'bad_data_dir', { file })
    }
  }
  const key = await generateKeyPair('Ed25519')
  // Write then rename so a crash never leaves a half-written key that would change the peer id.
  await writeFile(`${file}.tmp`, privateKeyToProtobuf(key), { mode: 0o600 })
  await rename(`${file}.tmp`, file)
  return key
}

/**
 * Claims the data dir for this process with a pid file, so a second node on the same dir fails
 * with a clear message instead of LevelDB's bare "failed to open". A pid file left by a killed
 * node is taken over. Returns the function that releases the claim.
 */
export async function lockDataDir (dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true })
  const file = join(dataDir, 'node.pid')
  const holder = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10)
  if (Number.isInteger(holder) && holder !== process.pid && isRunning(holder)) {
    throw new BidmeshError(`the data dir ${dataDir} is in use by another bidmesh node (pid ${holder}); give each node its own --data`, 'data_dir_in_use', { dataDir, pid: holder })
  }
  await writeFile(file, String(process.pid))
  return async () => { await unlink(file).catch(() => {}) }
}

function isRunning (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    return err.code === 'EPERM'
  }
}

/** Opens the LevelDB datastore under the data dir. */
export async function openDatastore (dataDir: string): Promise<LevelDatastore> {
  const store = new LevelDatastore(join(dataDir, 'datastore'))
  try {
    await store.open()
  } catch (err: any) {
    // LevelDB allows one opener per process too, so two in-process nodes on one dir end here.
    throw new BidmeshError(`cannot open the datastore in ${dataDir} (in use by another node in this process, or damaged): ${err.message}`, 'bad_data_dir', { dataDir })
  }
  return store
}

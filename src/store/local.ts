import { Record as DhtRecord } from '@libp2p/kad-dht'
import { Key, type Datastore } from 'interface-datastore'
import { toString as toBase32 } from 'uint8arrays/to-string'

/**
 * Where kad-dht keeps value records: `<datastorePrefix>/record/<base32 of the DHT key>`, as a
 * serialized libp2p Record. bidmesh leaves `datastorePrefix` at its default `/dht`. The
 * validator (fencing) and `RecordStore.getLocal` read the same entries the DHT serves.
 */
export const DHT_RECORD_PREFIX = '/dht/record'

export function dhtDatastoreKey (key: Uint8Array): Key {
  return new Key(`${DHT_RECORD_PREFIX}/${toBase32(key, 'base32')}`, false)
}

/** The value bytes this node holds under a DHT key, or undefined. */
export async function readLocalRecord (ds: Datastore, key: Uint8Array): Promise<Uint8Array | undefined> {
  let raw: Uint8Array
  try {
    raw = await ds.get(dhtDatastoreKey(key))
  } catch (err: any) {
    if (err.name === 'NotFoundError') return undefined
    throw err
  }
  try {
    return DhtRecord.deserialize(raw).value
  } catch {
    return undefined
  }
}

/** Stores value bytes under a DHT key, stamped now (kad-dht stops serving records 48 h after receipt). */
export async function writeLocalRecord (ds: Datastore, key: Uint8Array, value: Uint8Array): Promise<void> {
  await ds.put(dhtDatastoreKey(key), new DhtRecord(key, value, new Date()).serialize())
}

export async function deleteLocalRecord (ds: Datastore, key: Uint8Array): Promise<void> {
  await ds.delete(dhtDatastoreKey(key))
}

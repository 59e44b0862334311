/** The gossipsub topic every node publishes its NodeAdvert on. */
export const ADVERT_TOPIC = '/bidmesh/1/adverts'

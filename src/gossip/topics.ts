/** The gossipsub topic every node publishes its NodeAdvert on. */
export const ADVERT_TOPIC = '/bidmesh/1/adverts'
/** The gossipsub topic framework weights travel on. */
export const WEIGHTS_TOPIC = '/bidmesh/1/frameworks'

/** The gossipsub topic every node publishes its NodeAdvert on. */
export const ADVERT_TOPIC = '/bidmesh/1/adverts'
/** The gossipsub topic framework weights travel on. */
export const WEIGHTS_TOPIC = '/bidmesh/1/frameworks'
/** The gossipsub topic workflow drivers announce their workflows on (and cancels travel to them). */
export const WORKFLOWS_TOPIC = '/bidmesh/1/workflows'

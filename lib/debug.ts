import { debuglog } from 'node:util';

/** The one debug channel of the library: NODE_DEBUG=nodegrad prints it to stderr. */
export const debug = debuglog('nodegrad');

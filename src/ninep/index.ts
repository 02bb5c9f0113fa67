export * from './constants.js';
export * from './messages.js';
export { encode, encodeStat } from './serializer.js';
export { decode, decodeStats, DecodeError, MessageFramer } from './parser.js';
export * from './tree.js';
export * from './files.js';
export { Server, type ServerOptions } from './server.js';
export { Client, ClientFile, NinepError, type DialOptions, type RequestOptions } from './client.js';
export { namespaceDir, ensureNamespace, resolveAddress, post, type Posted, type Address } from './namespace.js';

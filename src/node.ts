// The package's Node entry: everything in ./index.ts (which also runs in the browser) plus the
// parts that need Node's file system: checkpoint files, data sets from paths, PNG files.
export * from './index.js';
export * from './data/node.js';
export { readBytes, loadStateDictFile, writeAtomic } from './engine/io/node.js';

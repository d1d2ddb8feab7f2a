// Checkpoint I/O on the host (no GPU, no file system: bytes in, bytes out), for Node and the browser.
// File helpers for Node are in ./node.ts.
import { readSafetensors } from './safetensors.js';
import { loadTorch, isTorchCheckpoint } from './torch.js';
import type { StateDict } from './host-tensor.js';

export { type HostTensor, type StateDict, f16ToF32 } from './host-tensor.js';
export { readSafetensors, writeSafetensors } from './safetensors.js';
export { loadTorch, isTorchCheckpoint, type TorchCheckpoint } from './torch.js';

/** Reads a state dict from safetensors or `torch.save` bytes, recognized by their content. */
export function loadStateDict(bytes: Uint8Array, name = 'checkpoint'): StateDict {
  if (isTorchCheckpoint(bytes)) return loadTorch(bytes, name);
  // safetensors: an 8-byte header length, then the JSON header's '{'.
  if (bytes.length > 8 && bytes[8] === 0x7b) return readSafetensors(bytes, name);
  throw new Error(`${name}: neither a PyTorch checkpoint (zip or legacy torch.save) nor a safetensors file`);
}

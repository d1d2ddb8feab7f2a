// `amrm convert IN OUT`: a PyTorch checkpoint (or a safetensors file) to safetensors.
import { basename, resolve } from 'node:path';
import { loadStateDictFile } from '../engine/io/node.js';
import { writeSafetensors } from '../engine/io/safetensors.js';
import type { TorchCheckpoint } from '../engine/io/torch.js';
import type { StateDict } from '../engine/io/host-tensor.js';
import { writeAtomic } from '../engine/io/node.js';

export const CONVERT_USAGE = `  convert IN OUT                     a PyTorch checkpoint (.pth/.pt/.th, zip or legacy) or safetensors
                                     file to safetensors (f32 and i32; int64 narrowed to int32)`;

export function convertCommand(args: string[]): number {
  const files = args.filter((a) => !a.startsWith('--'));
  if (files.length !== 2 || files.length !== args.length) {
    console.error(`usage: amrm convert IN OUT\n${CONVERT_USAGE}`);
    return 2;
  }
  const [input, output] = files;
  // The input is read whole before the output is written, but a mistyped command should not cost
  // the only copy of a checkpoint.
  if (resolve(input) === resolve(output)) {
    console.error(`amrm convert: OUT is IN (${input}); write the safetensors file elsewhere`);
    return 2;
  }
  const sd: StateDict & Partial<Pick<TorchCheckpoint, 'format' | 'skipped'>> = loadStateDictFile(input);
  const bytes = writeSafetensors(sd);
  writeAtomic(output, bytes);
  let f32 = 0, i32 = 0, dataBytes = 0;
  for (const t of sd.tensors.values()) { if (t.dtype === 'f32') f32++; else i32++; dataBytes += t.data.byteLength; }
  const from = sd.format ? `torch.save ${sd.format} format` : 'safetensors';
  console.log(`${basename(input)} (${from}) -> ${output}: ${sd.tensors.size} tensors (${f32} f32, ${i32} i32), ${dataBytes} bytes of tensor data, ${bytes.length} bytes written`);
  const meta = Object.entries(sd.metadata);
  if (meta.length) console.log(`metadata: ${meta.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  if (sd.skipped?.length) console.log(`not converted (neither tensors nor scalars): ${sd.skipped.join(', ')}`);
  return 0;
}

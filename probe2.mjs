process.env.EGL_PLATFORM = 'surfaceless';
const kind = process.argv[2];
if (kind === 'swiftshader') process.env.VK_ICD_FILENAMES = '/usr/lib/chromium/vk_swiftshader_icd.json';
const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const gpu = create([kind === 'llvmpipe' ? 'backend=opengles' : 'backend=vulkan']);
const adapter = await gpu.requestAdapter(kind === 'llvmpipe' ? { featureLevel: 'compatibility' } : {});
const device = await adapter.requestDevice();
const code = `@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  var a = f32(g.x); for (var i = 0u; i < 20000u; i++) { a = sin(a) * 1.0001 + 0.5; } o[g.x] = a; }`;
const pipe = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
const buf = device.createBuffer({ size: 4 * 65536, usage: GPUBufferUsage.STORAGE });
const bg = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
function submit() { const e = device.createCommandEncoder(); const p = e.beginComputePass(); p.setPipeline(pipe); p.setBindGroup(0, bg); p.dispatchWorkgroups(1024); p.end(); device.queue.submit([e.finish()]); }
async function measure(name, wait) {
  submit(); await device.queue.onSubmittedWorkDone();
  const t0 = performance.now(); const c0 = process.cpuUsage();
  for (let i = 0; i < 3; i++) { submit(); await wait(); }
  const c1 = process.cpuUsage(c0);
  console.log(kind, name, 'wall', (performance.now() - t0).toFixed(0), 'cpu', ((c1.user + c1.system) / 1000).toFixed(0));
}
await measure('plain', () => device.queue.onSubmittedWorkDone());
await measure('sleep', async () => { let done = false; device.queue.onSubmittedWorkDone().then(() => done = true); const t = performance.now(); while (!done) { if (performance.now() - t < 1) await new Promise(r => setImmediate(r)); else await new Promise(r => setTimeout(r, 1)); } });
process.exit(0);

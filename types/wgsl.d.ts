// WGSL kernels are bundled as text by esbuild (scripts/build.mjs).
declare module '*.wgsl' {
  const source: string;
  export default source;
}

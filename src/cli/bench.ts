// `amrm bench kernels`: placeholder until the benchmark lands (bench/kernels.ts).
export async function benchCommand(args: string[]): Promise<number> {
  console.error(`amrm bench ${args.join(' ')}: not built yet`);
  return 1;
}

// Inputs and outputs are checked before the work starts (src/cli/outputs.ts): a report path in a
// folder that does not exist, a folder given as a file or a file as a folder, a missing image, are
// refused at once with their names, and nothing is evaluated or written.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const test = suite('cli: output paths checked first');
const amrm = (args: string[]) => spawnSync(process.execPath, ['bin/amrm.js', ...args], { encoding: 'utf8' });
const CIFAR = ['--dataset', 'cifar10', '--data', '../shared/data/cifar-10-batches-bin', '--classifier', '../shared/models/resnet20-12fca82f.th', '--n', '4'];

test('eval, bench, eval-maskdit, merge, demo and purify refuse a missing input, an output in a missing folder, a folder as an output file or a file as an output folder, before any work', () => {
  const cases: [string[], RegExp][] = [
    [['eval', ...CIFAR, '--json', 'no-such-folder/r.json'], /amrm eval: the output folder .*no-such-folder \(for no-such-folder\/r\.json\) does not exist/],
    [['eval', ...CIFAR, '--json', 'models'], /amrm eval: the output models is a folder, not a file/],
    [['bench', 'kernels', '--quick', '--json', 'no-such-folder/k.json'], /amrm bench: the output folder .* does not exist/],
    [['eval-maskdit', '--dataset', 'mnist', '--model', 'models/mnist-maskdit.safetensors', '--png', 'no-such-folder/d.png'], /amrm eval-maskdit: the output folder .* does not exist/],
    [['merge', 'bench/results/robust', '--json', 'no-such-folder/m.json'], /amrm merge: the output folder .* does not exist/],
    [['demo', '--out', 'README.md'], /amrm demo: --out README\.md is a file, not a folder/],
    [['purify', '--purifier', 'models/mnist-mae.safetensors', '--input', 'no-such.png', '--out', 'no-such-folder'], /amrm purify: cannot read no-such\.png: no such file/],
  ];
  for (const [args, message] of cases) {
    const r = amrm(args);
    assert.is.not(r.status, 0, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
    // Refused before the work: no accuracy, timing or loss was printed.
    assert.not.match(r.stdout, /accuracy|GFLOP|loss|merged|demo:/, args.join(' '));
  }
  assert.not.ok(existsSync('no-such-folder'), 'a refused command made its folder');
});

test.run();

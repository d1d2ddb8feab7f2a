// Output files are checked before the work starts (src/cli/outputs.ts): a report path in a folder
// that does not exist, or a path that is a folder, is refused at once with its name, and nothing is
// evaluated or written.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';

const test = suite('cli: output paths checked first');
const amrm = (args: string[]) => spawnSync(process.execPath, ['bin/amrm.js', ...args], { encoding: 'utf8' });
const CIFAR = ['--dataset', 'cifar10', '--data', '../shared/data/cifar-10-batches-bin', '--classifier', '../shared/models/resnet20-12fca82f.th', '--n', '4'];

test('eval, bench, eval-maskdit and merge refuse an output in a missing folder or a folder as the output, before any work', () => {
  const cases: [string[], RegExp][] = [
    [['eval', ...CIFAR, '--json', 'no-such-folder/r.json'], /amrm eval: the output folder .*no-such-folder \(for no-such-folder\/r\.json\) does not exist/],
    [['eval', ...CIFAR, '--json', 'models'], /amrm eval: the output models is a folder, not a file/],
    [['bench', 'kernels', '--quick', '--json', 'no-such-folder/k.json'], /amrm bench: the output folder .* does not exist/],
    [['eval-maskdit', '--dataset', 'mnist', '--model', 'models/mnist-maskdit.safetensors', '--png', 'no-such-folder/d.png'], /amrm eval-maskdit: the output folder .* does not exist/],
    [['merge', 'bench/results/robust', '--json', 'no-such-folder/m.json'], /amrm merge: the output folder .* does not exist/],
  ];
  for (const [args, message] of cases) {
    const r = amrm(args);
    assert.is.not(r.status, 0, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
    // Refused before the work: no accuracy, timing or loss was printed.
    assert.not.match(r.stdout, /accuracy|GFLOP|loss|merged/, args.join(' '));
  }
});

test.run();

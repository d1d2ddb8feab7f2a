// Attacks on (purified) classifiers: PGD, APGD-CE/DLR, Square, EOT and the gradient modes through a
// purifier (exact, BPDA), and the robust-accuracy harness.
export * from './ball.js';
export * from './target.js';
export * from './pgd.js';
export * from './apgd.js';
export * from './square.js';

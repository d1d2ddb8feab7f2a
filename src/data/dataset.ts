// The shape every image loader returns, and the index checks they share.

/** A batch of images with integer labels: images are [n, c, h, w], row-major, values in [0, 1]. */
export interface ImageSet {
  images: Float32Array;
  labels: Int32Array;
  n: number;
  shape: [number, number, number, number];
  /** Name of each label value (classes[label]). */
  classes: string[];
}

/**
 * Checks a caller's list of record indices against the number of records there are, so that a
 * loader can read just those. Order and repeats are kept: the result lists the records to return.
 */
export function checkIndices(indices: ArrayLike<number>, total: number, who: string): Int32Array {
  const out = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    if (!Number.isInteger(k) || k < 0 || k >= total) {
      throw new Error(`${who}: index ${k} (position ${i}) is not an integer in 0..${total - 1}`);
    }
    out[i] = k;
  }
  return out;
}

/** How many times each label value occurs (labels must lie in 0..k-1). */
export function labelHistogram(labels: ArrayLike<number>, k: number): number[] {
  const h = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!(l >= 0 && l < k)) throw new Error(`labelHistogram: label ${l} at ${i} is outside 0..${k - 1}`);
    h[l]++;
  }
  return h;
}

/** One image: data is [c, h, w], row-major, values in [0, 1]. */
export interface ImageCHW {
  data: Float32Array;
  shape: [number, number, number];
}

/** The images `indices` of `set`, in that order (copies). */
export function subset(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const idx = checkIndices(indices, set.n, 'subset');
  const per = set.shape[1] * set.shape[2] * set.shape[3];
  const images = new Float32Array(idx.length * per), labels = new Int32Array(idx.length);
  idx.forEach((k, i) => { images.set(set.images.subarray(k * per, (k + 1) * per), i * per); labels[i] = set.labels[k]; });
  return { ...set, images, labels, n: idx.length, shape: [idx.length, set.shape[1], set.shape[2], set.shape[3]] };
}

import { Tensor } from '../tensor';

/** A batch's targets: class indices or a tensor (class indices, one-hot rows or values). */
export type Target = Tensor | Int32Array | readonly number[];

/**
 * The number of correct predictions in a batch.
 *
 * - Output [batch, classes] with classes > 1: the arg-max class is compared with the target's
 *   class index, or with the target row's arg-max when the target is one-hot [batch, classes].
 * - Output [batch] or [batch, 1]: a binary prediction, the output thresholded at 0.5 (a
 *   probability), compared with the target thresholded at 0.5.
 */
export function countCorrect(output: Tensor, target: Target): number {
  const batch = output.shape[0] ?? 1;
  const classes = output.ndim === 2 ? output.shape[1] : 1;
  const targetData = target instanceof Tensor ? target.data : target;

  if (classes === 1) {
    let correct = 0;
    for (let i = 0; i < batch; i++) {
      if (output.data[i] >= 0.5 === targetData[i] >= 0.5) correct++;
    }
    return correct;
  }

  const predicted = output.argmax(1);
  const oneHot = target instanceof Tensor && target.ndim === 2 && target.shape[1] === classes;
  const labels = oneHot ? target.argmax(1) : targetData;
  let correct = 0;
  for (let i = 0; i < batch; i++) if (predicted[i] === labels[i]) correct++;
  return correct;
}

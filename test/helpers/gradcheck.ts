import { noGrad, Tensor, tensor } from '../../lib/tensor';
import { randomNormal } from '../../lib/tensor/random';

export interface GradcheckResult {
  maxError: number;
  worst: string;
}

/**
 * Compares autograd's gradient of sum(fn(inputs) * upstream) with central finite differences
 * in float64, for every element of every input. A random upstream gradient makes the check
 * see every output element with a different weight.
 */
export function gradcheck(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  { eps = 1e-6, atol = 1e-6, rtol = 1e-5 } = {},
): GradcheckResult {
  const leaves = inputs.map((x) => tensor(x.data.slice(), { shape: x.shape, dtype: 'float64' }));
  for (const leaf of leaves) leaf.requiresGrad = true;
  const out = fn(...leaves);
  const upstream = tensor(
    Float64Array.from({ length: out.numel }, () => randomNormal()),
    { shape: out.shape },
  );
  out.backward(upstream);

  const objective = () =>
    noGrad(() => {
      const y = fn(...leaves).data;
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * upstream.data[i];
      return s;
    });

  let maxError = 0;
  let worst = 'none';
  leaves.forEach((leaf, which) => {
    for (let i = 0; i < leaf.numel; i++) {
      const saved = leaf.data[i];
      leaf.data[i] = saved + eps;
      const plus = objective();
      leaf.data[i] = saved - eps;
      const minus = objective();
      leaf.data[i] = saved;
      const numeric = (plus - minus) / (2 * eps);
      const analytic = leaf.grad === null ? 0 : leaf.grad.data[i];
      const error = Math.abs(numeric - analytic) / (atol + rtol * Math.abs(numeric));
      if (error > maxError) {
        maxError = error;
        worst = `input ${which} element ${i}: analytic ${analytic}, numeric ${numeric}`;
      }
    }
  });
  return { maxError, worst };
}

let enabled = true;

/** Whether ops record the graph for backward(). */
export function isGradEnabled(): boolean {
  return enabled;
}

/**
 * Runs fn without recording the graph, as `with torch.no_grad()` does; ops inside build
 * tensors that do not require gradients. Restores the previous mode even if fn throws.
 * The mode is global and fn runs synchronously: in an async fn, only the part before the
 * first `await` runs without the graph.
 *
 * @example
 * const prediction = noGrad(() => model.forward(x)).argmax(1);
 */
export function noGrad<T>(fn: () => T): T {
  const previous = enabled;
  enabled = false;
  try {
    return fn();
  } finally {
    enabled = previous;
  }
}

/** Sets the grad mode directly; prefer noGrad(). Returns the previous mode. */
export function setGradEnabled(value: boolean): boolean {
  const previous = enabled;
  enabled = value;
  return previous;
}

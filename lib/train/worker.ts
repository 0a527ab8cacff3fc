import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { setPriority } from 'node:os';
import { checkInt, typeError } from '../errors';
import { debug } from '../debug';

/** What a task running in a worker receives. */
export interface WorkerTaskContext<D> {
  /** The `workerData` given to trainInWorker. */
  data: D;
  /** Aborted when the main thread's signal is: pass it to fit, which stops at the next batch. */
  signal: AbortSignal;
  /** Sends a message to the main thread's `onReport` (progress, logs): structured-cloneable. */
  report(message: unknown): void;
}

/** Options of {@link trainInWorker}. */
export interface TrainInWorkerOptions<D> {
  /** Passed to the task as `data` (structured-cloneable: numbers, typed arrays, objects). */
  workerData?: D;
  /** Aborting it aborts the task's signal; the promise then rejects with an AbortError. */
  signal?: AbortSignal;
  /** Receives what the task passes to `report`. */
  onReport?(message: unknown): void;
  /**
   * The worker thread's nice value (-20 to 19; default 0, unchanged). A positive value lets
   * the main thread and the rest of the machine go first when cores are short; on Linux it
   * applies to the training thread alone (with threads(1), OpenBLAS computes on it too).
   */
  nice?: number;
  /** Node options for the worker, e.g. ['--require', 'tsx/cjs'] to run a TypeScript script. */
  execArgv?: string[];
}

type FromWorker =
  | { type: 'report'; message: unknown }
  | { type: 'result'; value: unknown }
  | { type: 'error'; name: string; message: string; stack?: string };

/**
 * Runs a training script in a worker thread, so the main thread's event loop stays free (a
 * server keeps answering while the model trains). The script calls {@link workerTask} with
 * the function that trains; the promise resolves with what that function returns, e.g. the
 * weights as `{ name: Float32Array }` (tensors do not cross threads, typed arrays do).
 *
 * @example
 * // main.js
 * const weights = await trainInWorker(require.resolve('./train.js'), {
 *   workerData: { epochs: 5 },
 *   signal: controller.signal,
 *   onReport: (logs) => console.log(logs),
 * });
 * model.loadStateDict(Object.fromEntries(
 *   Object.entries(weights).map(([name, data]) => [name, tensor(data, { shape: shapes[name] })]),
 * ));
 *
 * // train.js
 * workerTask(async ({ data, signal, report }) => {
 *   await fit(model, loader, { epochs: data.epochs, optimizer, loss, signal,
 *     callbacks: { onEpochEnd: (epoch, logs) => report(logs) } });
 *   return Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, t.data]));
 * });
 */
export function trainInWorker<R = unknown, D = unknown>(
  script: string | URL,
  options: TrainInWorkerOptions<D> = {},
): Promise<R> {
  const { workerData: data, signal, onReport, execArgv, nice = 0 } = options;
  if (typeof script !== 'string' && !(script instanceof URL)) {
    throw typeError('trainInWorker(script)', 'a file path or URL', script);
  }
  checkInt('trainInWorker(nice)', nice, -20, 19);
  signal?.throwIfAborted();

  return new Promise<R>((resolve, reject) => {
    const worker = new Worker(script, { workerData: data, execArgv });
    // The task starts on this message, so its settings apply from the first batch.
    worker.postMessage({ type: 'start', nice });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => worker.postMessage({ type: 'abort' });
    signal?.addEventListener('abort', onAbort, { once: true });

    worker.on('message', (message: FromWorker) => {
      if (message.type === 'report') onReport?.(message.message);
      else if (message.type === 'result') settle(() => resolve(message.value as R));
      else if (message.type === 'error') settle(() => reject(rebuild(message, signal)));
    });
    worker.on('error', (error) => settle(() => reject(error)));
    worker.on('exit', (code) => {
      settle(() => reject(new Error(`trainInWorker: the worker exited with code ${code}`)));
    });
  });
}

/** The worker's error on this side: the signal's reason for an abort, else the same kind. */
function rebuild(error: { name: string; message: string; stack?: string }, signal?: AbortSignal) {
  if (error.name === 'AbortError' && signal?.aborted) return signal.reason;
  const Kind = { TypeError, RangeError }[error.name] ?? Error;
  const rebuilt = new Kind(error.message);
  if (Kind === Error) rebuilt.name = error.name;
  rebuilt.stack = error.stack;
  return rebuilt;
}

/**
 * The worker side of {@link trainInWorker}: runs `task` with the data, an AbortSignal that the
 * main thread controls and a `report` function, then sends its result back and lets the worker
 * end.
 */
export function workerTask<D, R>(task: (context: WorkerTaskContext<D>) => R | Promise<R>): void {
  const port = parentPort;
  if (isMainThread || port === null) {
    throw typeError('workerTask', 'to run in a worker started by trainInWorker', 'the main thread');
  }
  const controller = new AbortController();
  const report = (message: unknown) => port.postMessage({ type: 'report', message });
  const run = () =>
    Promise.resolve()
      .then(() => task({ data: workerData as D, signal: controller.signal, report }))
      .then(
        (value) => port.postMessage({ type: 'result', value }),
        (error: Error) => {
          const { name = 'Error', message = String(error), stack } = error ?? {};
          port.postMessage({ type: 'error', name, message, stack });
        },
      )
      .finally(() => port.close());

  port.on('message', (message: { type?: string; nice?: number }) => {
    if (message?.type === 'abort') controller.abort();
    if (message?.type !== 'start') return;
    if (message.nice) lowerPriority(message.nice);
    void run();
  });
}

/** Sets this thread's nice value (pid 0 is the calling thread on Linux); best effort. */
function lowerPriority(nice: number): void {
  try {
    setPriority(0, nice);
  } catch (error) {
    debug('trainInWorker: could not set the nice value: %s', (error as Error).message);
  }
}

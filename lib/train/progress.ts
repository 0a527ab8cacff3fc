import { SingleBar } from 'cli-progress';

/** The values the bar shows after each batch. */
export interface ProgressValues {
  loss: number;
  accuracy?: number;
  samplesPerSec: number;
}

/**
 * One epoch's progress bar on stderr: epoch, batches done, running loss and accuracy, samples
 * per second. It is cleared when the epoch ends; the epoch's record is the History and the
 * onEpochEnd callback, which the caller prints as it likes.
 */
export class EpochProgress {
  private readonly bar: SingleBar;
  private running = false;

  constructor(
    private readonly epochs: number,
    stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.bar = new SingleBar({
      stream,
      format:
        'epoch {epoch} [{bar}] {value}/{total} | loss {loss} | acc {accuracy} | {speed} samples/s',
      barsize: 24,
      barCompleteChar: '█',
      barIncompleteChar: '░',
      clearOnComplete: true,
      hideCursor: false,
      noTTYOutput: !stream.isTTY,
      notTTYSchedule: 5000,
      fps: 10,
    });
  }

  /** Starts the bar for `epoch` (0-based) with `total` batches (0 when unknown). */
  start(epoch: number, total: number): void {
    this.bar.start(total, 0, {
      epoch: `${epoch + 1}/${this.epochs}`,
      loss: '-',
      accuracy: '-',
      speed: '-',
    });
    this.running = true;
  }

  update(batches: number, values: ProgressValues): void {
    if (this.bar.getTotal() < batches) this.bar.setTotal(batches);
    this.bar.update(batches, {
      loss: values.loss.toFixed(4),
      accuracy: values.accuracy === undefined ? '-' : `${(100 * values.accuracy).toFixed(1)}%`,
      speed: Math.round(values.samplesPerSec).toLocaleString('en-US'),
    });
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.bar.stop();
  }
}

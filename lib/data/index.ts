export {
  type BatchOf,
  type Collated,
  type Column,
  type Dataset,
  defaultCollate,
  type SampleOf,
  TensorDataset,
} from './dataset';
export { DataLoader, type DataLoaderOptions } from './dataloader';
export {
  MissingDependencyError,
  mnist,
  MNIST_ORDER_SEED,
  MNIST_PIXELS,
  MNIST_TRAIN_FRACTION,
  mnistDigitsDir,
  mnistSplit,
  type MnistData,
} from './mnist';
export {
  CharVocabulary,
  CharWindows,
  mobyDick,
  readTextFile,
  splitTokens,
  type CharBatch,
} from './text';

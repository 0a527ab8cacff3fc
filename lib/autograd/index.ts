export * as ops from './ops';
export { noGrad, isGradEnabled, setGradEnabled } from './grad-mode';
export type { GradNode } from './engine';

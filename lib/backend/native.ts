/**
 * The native backend: the C++ kernels of native/ (OpenBLAS sgemm, scalar/AVX2/AVX-512 kernels)
 * through the N-API addon, loaded with node-gyp-build.
 *
 * The addon checks every argument itself and throws TypeError/RangeError in the library's one
 * error shape, so its functions serve as the Backend's methods directly: they run thousands
 * of times per second on tiny tensors, and nothing stands between them and the caller. The
 * addon takes Float32Array only; a Float64Array gets a TypeError (the tensor layer sends
 * float64 to the reference backend).
 */

import * as path from 'node:path';

import type {
  AdagradOptions,
  AdamOptions,
  Backend,
  FloatArray,
  RmspropOptions,
  SgdOptions,
} from './backend';
import { debug } from '../debug';

/** A SIMD level of the native kernels, slowest first. */
export type SimdLevel = 'scalar' | 'avx2' | 'avx512';

/** What OpenBLAS reports about itself. */
export interface BlasInfo {
  /** The build configuration, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... MAX_THREADS=64". */
  config: string;
  /** The CPU core OpenBLAS picked its kernels for, e.g. "Haswell". */
  corename: string;
  /** Threads the matrix products run on: the fixed count, or the most 'auto' uses. */
  threads: number;
  /** 'fixed' after threads(n); 'auto' (the default): small products on one thread. */
  threadPolicy: 'auto' | 'fixed';
}

/** How the addon was built, as it reports itself. */
export interface AddonBuildInfo {
  /** The N-API version the addon was compiled against (it runs on Node with this or newer). */
  napiVersion: number;
  /** The compiler that built it, e.g. "12.2.0" for GCC. */
  compiler: string;
}

/** Which addon file was loaded, and what kind of build it is. */
export interface AddonSource {
  /** Absolute path of the .node file. */
  file: string;
  /**
   * 'prebuild': shipped in the package's prebuilds/ (nothing was compiled at install);
   * 'local build': compiled on this machine into build/ (by npm install or npm rebuild);
   * 'NODEGRAD_ADDON': the file that environment variable names.
   */
  kind: 'prebuild' | 'local build' | 'NODEGRAD_ADDON';
}

/** The native backend's runtime knobs, beyond the kernel contract. */
export interface NativeExtras {
  /** The SIMD level the kernels run at now. */
  simd(): SimdLevel;
  /**
   * Switches the SIMD level for the whole process and returns the level now active: the one
   * asked for, or the best this CPU has below it.
   */
  setSimd(level: string): SimdLevel;
  /** Every SIMD level this CPU and OS support, slowest first. */
  simdLevels(): SimdLevel[];
  /** OpenBLAS's configuration, core and thread count. */
  blasInfo(): BlasInfo;
  /** Fixes the number of threads OpenBLAS's matrix products use; 0: the automatic policy. */
  setThreads(n: number): void;
  /** The N-API version and compiler the addon was built with. */
  buildInfo(): AddonBuildInfo;
  /**
   * Returns the C heap's free pages to the system (glibc's malloc_trim), so that the resident
   * set size counts memory in use; false where the C library has no such call.
   */
  releaseMemory(): boolean;
}

/**
 * The functions the addon exports (native/binding/addon.cc): every kernel of the Backend
 * contract under the same name and signature, except that the optimizer updates take their
 * hyper-parameters as plain arguments rather than an object, plus the runtime knobs.
 */
interface Addon
  extends
    Omit<Backend, 'name' | 'sgdStep' | 'adamStep' | 'rmspropStep' | 'adagradStep'>,
    NativeExtras {
  sgdStep(
    param: FloatArray,
    grad: FloatArray,
    buf: FloatArray,
    n: number,
    lr: number,
    momentum: number,
    dampening: number,
    weightDecay: number,
    nesterov: boolean,
    firstStep: boolean,
  ): void;
  adamStep(
    param: FloatArray,
    grad: FloatArray,
    m: FloatArray,
    v: FloatArray,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    decoupled: boolean,
    step: number,
  ): void;
  rmspropStep(
    param: FloatArray,
    grad: FloatArray,
    squareAvg: FloatArray,
    gradAvg: FloatArray,
    buf: FloatArray,
    n: number,
    lr: number,
    alpha: number,
    eps: number,
    weightDecay: number,
    momentum: number,
    centered: boolean,
  ): void;
  adagradStep(
    param: FloatArray,
    grad: FloatArray,
    sum: FloatArray,
    n: number,
    lr: number,
    lrDecay: number,
    weightDecay: number,
    eps: number,
    step: number,
  ): void;
}

/** Thrown by {@link createNativeBackend} when the addon cannot load; `cause` is the load error. */
export class NativeLoadError extends Error {
  readonly code = 'NODEGRAD_NATIVE_LOAD';
  /** The addon file that failed to load, when one was found. */
  readonly file?: string;
  /** What to do about it, one sentence. */
  readonly fix: string;

  constructor(message: string, options: { cause?: unknown; file?: string; fix: string }) {
    super(message, options);
    this.name = 'NativeLoadError';
    this.file = options.file;
    this.fix = options.fix;
  }
}

// The package root: this file is lib/backend/native.ts, compiled to dist/backend/native.js.
const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

/** The command that builds the addon from source, with what it needs. */
const REBUILD =
  'run `npm rebuild nodegrad --build-from-source`, which needs a C++17 compiler, python3, ' +
  'pkg-config and OpenBLAS (Debian/Ubuntu: apt-get install build-essential python3 ' +
  'pkg-config libopenblas-dev)';

/** How to get a working addon, for every message that says it did not load. */
export const BUILD_HINT = `To fix it, ${REBUILD}`;

/**
 * The concrete fix for an addon that did not load, from why it did not: a build linked
 * against a shared OpenBLAS that is missing needs OpenBLAS installed (or a build that carries
 * it); anything else (no build for this platform, a build for another Node or libc) a build
 * from source.
 */
export function nativeFix(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/libopenblas|libgfortran/.test(message)) {
    return (
      'To fix it, install OpenBLAS (Debian/Ubuntu: apt-get install libopenblas0), or ' +
      `${REBUILD}`
    );
  }
  return BUILD_HINT;
}

let addon: Addon | null = null;
let source: AddonSource | null = null;

/** The addon file to load: NODEGRAD_ADDON, else what node-gyp-build finds (build/, prebuilds/). */
function findAddon(): AddonSource {
  const override = process.env.NODEGRAD_ADDON;
  if (override !== undefined && override !== '') {
    return { file: path.resolve(override), kind: 'NODEGRAD_ADDON' };
  }
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  const file = nodeGypBuild.resolve(PACKAGE_ROOT);
  const prebuilds = path.join(PACKAGE_ROOT, 'prebuilds') + path.sep;
  return { file, kind: file.startsWith(prebuilds) ? 'prebuild' : 'local build' };
}

function loadAddon(): Addon {
  if (addon !== null) return addon;
  let found: AddonSource | null = null;
  try {
    found = findAddon();
    addon = require(found.file) as Addon;
  } catch (error) {
    // The first line: a require error goes on with its require stack.
    const reason = (error instanceof Error ? error.message : String(error)).split('\n', 1)[0];
    const where = found === null ? PACKAGE_ROOT : found.file;
    const fix = nativeFix(error);
    throw new NativeLoadError(
      `nodegrad: the native addon could not load from ${where}: ${reason}. ${fix}.`,
      { cause: error, file: found?.file, fix },
    );
  }
  source = found;
  debug('native addon file: %s (%s)', found.file, found.kind);
  applySimdRequest(addon);
  return addon;
}

/**
 * The addon file that was loaded and what kind of build it is, or null before it loads (or
 * when it cannot).
 *
 * @example
 * addonSource(); // { file: '.../prebuilds/linux-x64/nodegrad.napi.node', kind: 'prebuild' }
 */
export function addonSource(): AddonSource | null {
  return source;
}

/**
 * Applies NODEGRAD_SIMD, when set, through the addon's own setSimd, and says once (on the debug
 * channel and as a warning) when the level asked for cannot be used. The level names are the
 * addon's: setSimd rejects a name it does not know, and simdLevels() lists what this CPU has.
 */
function applySimdRequest(loaded: Addon): void {
  const requested = process.env.NODEGRAD_SIMD;
  const supported = loaded.simdLevels().join(', ');
  if (requested !== undefined && requested !== '') {
    let granted: SimdLevel | null = null;
    try {
      granted = loaded.setSimd(requested);
    } catch (error) {
      // A name the addon does not know: the kernels stay at the best level.
      if (!(error instanceof RangeError)) throw error;
    }
    if (granted !== requested) {
      const why =
        granted === null
          ? `not a SIMD level; this CPU has ${supported}`
          : `this CPU has only ${supported}`;
      const active = loaded.simd();
      debug('NODEGRAD_SIMD=%s not honoured (%s); using %s', requested, why, active);
      process.emitWarning(
        `nodegrad: NODEGRAD_SIMD=${requested} cannot be used (${why}); ` +
          `running the ${active} kernels.`,
        { code: 'NODEGRAD_SIMD_FALLBACK' },
      );
    }
  }
  debug('native addon loaded: simd %s (supported: %s)', loaded.simd(), supported);
}

/**
 * The native backend, or a {@link NativeLoadError} (with the load error as its cause and the
 * fixes in its message) when the addon cannot load.
 *
 * @example
 * const native = createNativeBackend();
 * native.setSimd('scalar'); // e.g. to compare against the plain C++ kernels
 * native.reluForward(x, y, x.length);
 */
export function createNativeBackend(): Backend & NativeExtras {
  const a = loadAddon();
  // The kernels are the addon's own functions, called with no wrapper in between; only the
  // optimizer updates unpack their options object.
  return {
    ...a,
    name: 'native',
    sgdStep: (param, grad, buf, n, o: SgdOptions) =>
      a.sgdStep(
        param,
        grad,
        buf,
        n,
        o.lr,
        o.momentum,
        o.dampening,
        o.weightDecay,
        o.nesterov,
        o.firstStep,
      ),
    adamStep: (param, grad, m, v, n, o: AdamOptions) =>
      a.adamStep(
        param,
        grad,
        m,
        v,
        n,
        o.lr,
        o.beta1,
        o.beta2,
        o.eps,
        o.weightDecay,
        o.decoupled,
        o.step,
      ),
    rmspropStep: (param, grad, squareAvg, gradAvg, buf, n, o: RmspropOptions) =>
      a.rmspropStep(
        param,
        grad,
        squareAvg,
        gradAvg,
        buf,
        n,
        o.lr,
        o.alpha,
        o.eps,
        o.weightDecay,
        o.momentum,
        o.centered,
      ),
    adagradStep: (param, grad, sum, n, o: AdagradOptions) =>
      a.adagradStep(param, grad, sum, n, o.lr, o.lrDecay, o.weightDecay, o.eps, o.step),
  };
}

/**
 * Backend selection: which implementation of the kernel contract the library computes with.
 *
 * The native addon is loaded lazily, on the first getBackend(), so that importing nodegrad
 * costs nothing and a broken install surfaces as one warning, not a crash. NODEGRAD_BACKEND
 * (native | reference) overrides the choice; setBackend() changes it at run time.
 */

import { debug } from '../debug';
import { checkInt, rangeError, typeError } from '../errors';
import type { Backend, BackendName } from './backend';
import {
  NativeLoadError,
  addonSource,
  createNativeBackend,
  nativeFix,
  type AddonBuildInfo,
  type AddonSource,
  type BlasInfo,
  type NativeExtras,
  type SimdLevel,
} from './native';
import { referenceBackend } from './reference';

export type {
  AdamOptions,
  Backend,
  BackendName,
  BinaryOp,
  FloatArray,
  SgdOptions,
} from './backend';
export { referenceBackend };

export type { AddonBuildInfo, AddonSource, BlasInfo, SimdLevel } from './native';

/** The native backend with its runtime knobs (SIMD level, BLAS threads). */
export type NativeBackend = Backend & NativeExtras;

/** What {@link backendInfo} reports. */
export interface BackendInfo {
  /** The backend getBackend() returns. */
  name: BackendName;
  /** Why that backend was chosen, in words. */
  reason: string;
  /** Native only: the SIMD level the kernels run at. */
  simd?: SimdLevel;
  /** Native only: every SIMD level this CPU supports, slowest first. */
  simdLevels?: SimdLevel[];
  /** Native only: the BLAS library the matrix products go through. */
  blas?: BlasInfo;
  /** Native only: the addon file loaded, and whether it is a prebuild or a local build. */
  addon?: AddonSource;
  /** Native only: the N-API version and compiler the addon was built with. */
  build?: AddonBuildInfo;
  /** Why the native addon did not load, when it was tried and failed. */
  nativeError?: string;
  /** What to do about it, when the native addon did not load. */
  nativeFix?: string;
}

/** Thrown when the native backend is asked for explicitly but the addon cannot load. */
export class NativeBackendUnavailableError extends Error {
  readonly code = 'NODEGRAD_NATIVE_UNAVAILABLE';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NativeBackendUnavailableError';
  }
}

// ---------------------------------------------------------------------------------------------
// State. The addon is tried once; its outcome (backend or error) is remembered.

let current: Backend | null = null;
let currentReason = '';
/** What loading the addon gave: the backend or the error; undefined until it is tried. */
let nativeLoad: { backend: NativeBackend | null; error: Error | null } | undefined;

function loadNative(): NativeBackend | null {
  if (nativeLoad !== undefined) return nativeLoad.backend;
  try {
    nativeLoad = { backend: createNativeBackend(), error: null };
    debug('native backend loaded');
  } catch (error) {
    const cause = error instanceof Error ? error : new Error(String(error));
    nativeLoad = { backend: null, error: cause };
    debug('native backend failed to load: %s', cause.message);
  }
  return nativeLoad.backend;
}

/** The first line of why the addon did not load (the loader's own error), for one line. */
function loadFailure(): string {
  const nativeError = nativeLoad?.error;
  const root = nativeError?.cause instanceof Error ? nativeError.cause : nativeError;
  const message = root?.message ?? 'unknown error';
  const reason = message.split('\n', 1)[0].trim().replace(/\.$/, '');
  const file = nativeError instanceof NativeLoadError ? nativeError.file : undefined;
  return file === undefined || reason.includes(file) ? reason : `${file}: ${reason}`;
}

/** What to do about the load failure: the loader's own advice, else the rebuild. */
function loadFix(): string {
  const nativeError = nativeLoad?.error;
  return nativeError instanceof NativeLoadError ? nativeError.fix : nativeFix(nativeError);
}

function requireNative(askedBy: string): NativeBackend {
  const backend = loadNative();
  if (backend !== null) return backend;
  throw new NativeBackendUnavailableError(
    `${askedBy}: the native backend is not available: ${loadFailure()}. ${loadFix()}, ` +
      `or use setBackend('reference') for the pure-TypeScript backend.`,
    { cause: nativeLoad?.error },
  );
}

/** The backend the environment asks for, or the native one with a fallback that says why. */
function chooseBackend(): Backend {
  const requested = process.env.NODEGRAD_BACKEND;
  if (requested === 'reference') {
    currentReason = 'NODEGRAD_BACKEND=reference';
    return referenceBackend;
  }
  if (requested === 'native') {
    currentReason = 'NODEGRAD_BACKEND=native';
    return requireNative('NODEGRAD_BACKEND=native');
  }
  if (requested !== undefined && requested !== '') {
    throw rangeError('NODEGRAD_BACKEND', '"native" or "reference"', requested);
  }

  const backend = loadNative();
  if (backend !== null) {
    currentReason = 'the native addon loaded';
    return backend;
  }
  // getBackend() chooses once per process, so this warns once.
  currentReason = `the native addon could not load: ${loadFailure()}`;
  process.emitWarning(
    `nodegrad: the native backend could not load (${loadFailure()}), so the much slower ` +
      `pure-TypeScript reference backend is used. ${loadFix()}, or set ` +
      `NODEGRAD_BACKEND=reference to silence this warning.`,
    { code: 'NODEGRAD_NATIVE_UNAVAILABLE' },
  );
  return referenceBackend;
}

// ---------------------------------------------------------------------------------------------
// Public API.

/**
 * The backend float32 tensors compute on: native when the addon loads, otherwise the
 * reference backend (with one warning saying why). Float64 always uses the reference backend.
 *
 * @example
 * const backend = getBackend();
 * backend.reluForward(x, y, x.length);
 */
export function getBackend(): Backend {
  if (current === null) current = chooseBackend();
  return current;
}

/**
 * Chooses the backend for everything that follows. 'native' throws
 * {@link NativeBackendUnavailableError} (with the reason and the fixes) when the addon cannot
 * load.
 *
 * @example
 * setBackend('reference'); // pure TypeScript, e.g. to compare results
 */
export function setBackend(name: BackendName): void {
  if (typeof name !== 'string')
    throw typeError('setBackend(name)', '"native" or "reference"', name);
  if (name === 'reference') {
    current = referenceBackend;
    currentReason = "setBackend('reference')";
    return;
  }
  if (name === 'native') {
    current = requireNative("setBackend('native')");
    currentReason = "setBackend('native')";
    return;
  }
  throw rangeError('setBackend(name)', '"native" or "reference"', name);
}

/**
 * The native backend, loading the addon if that has not been tried yet, or null when it cannot
 * load. Never warns: this is for code that asks whether native is there (tests, diagnostics).
 *
 * @example
 * const native = nativeBackend();
 * if (native) console.log(native.simdLevels());
 */
export function nativeBackend(): NativeBackend | null {
  return loadNative();
}

/**
 * Which backend is in use and why, with the SIMD level and BLAS library when it is native.
 *
 * @example
 * backendInfo(); // { name: 'native', reason: 'the native addon loaded', simd: 'avx512', ... }
 */
export function backendInfo(): BackendInfo {
  const backend = getBackend();
  const native = nativeLoad?.backend ?? null;
  if (backend !== native || native === null) {
    const info: BackendInfo = { name: backend.name, reason: currentReason };
    if (nativeLoad?.error) {
      info.nativeError = nativeLoad.error.message;
      info.nativeFix = loadFix();
    }
    return info;
  }
  return {
    name: backend.name,
    reason: currentReason,
    simd: native.simd(),
    simdLevels: native.simdLevels(),
    blas: native.blasInfo(),
    addon: addonSource() ?? undefined,
    build: native.buildInfo(),
  };
}

/** The native backend when it is the one getBackend() returns, else null. */
function activeNative(): NativeBackend | null {
  const backend = getBackend();
  return backend === nativeLoad?.backend ? nativeLoad.backend : null;
}

/** The most threads threads() accepts, as the addon does. */
const MAX_THREADS = 1024;

/**
 * Gets, or sets then gets, the number of threads the native backend's matrix products run on
 * (OpenBLAS's pool; nodegrad's own kernels run on the calling thread).
 *
 * By default the policy is 'auto': products below 2^28 multiply-adds (every product of a
 * typical training step) run on one thread, which measured faster for training, and larger ones
 * on every core; threads() then returns the most it uses. threads(n) fixes the count at n for
 * every product large enough for OpenBLAS to split, as torch.set_num_threads does (at most the
 * MAX_THREADS OpenBLAS was built with, which it then returns); threads('auto') returns to the
 * default. The reference backend runs on the calling thread:
 * there this accepts the value and returns 1.
 *
 * @example
 * threads(2); // large products on both cores
 * threads('auto');
 */
export function threads(n?: number | 'auto'): number {
  if (n !== undefined && n !== 'auto') {
    if (typeof n !== 'number' || !Number.isInteger(n)) {
      throw typeError('threads(n)', `an integer in [1, ${MAX_THREADS}] or 'auto'`, n);
    }
    checkInt('threads(n)', n, 1, MAX_THREADS);
  }
  const backend = activeNative();
  if (backend === null) return 1;
  if (n !== undefined) backend.setThreads(n === 'auto' ? 0 : n);
  return backend.blasInfo().threads;
}

/**
 * Gets, or sets then gets, the SIMD level of the native kernels ('scalar', 'avx2',
 * 'avx512'; see backendInfo().simdLevels for what this CPU has). NODEGRAD_SIMD sets the
 * starting level. The reference backend has no SIMD variants: there this returns 'scalar'.
 *
 * @example
 * simd('scalar'); // compare against the plain C++ kernels
 */
export function simd(level?: string): SimdLevel {
  if (level !== undefined && typeof level !== 'string') {
    throw typeError('simd(level)', 'a SIMD level name such as "avx2"', level);
  }
  const backend = activeNative();
  if (backend === null) {
    if (level !== undefined && level !== 'scalar') {
      throw rangeError('simd(level)', "'scalar' (the reference backend has no SIMD)", level);
    }
    return 'scalar';
  }
  // Checked here so that the error names simd(level), not the addon's setSimd.
  if (level !== undefined && !['scalar', 'avx2', 'avx512'].includes(level)) {
    throw rangeError('simd(level)', 'one of "scalar", "avx2", "avx512"', level);
  }
  if (level !== undefined) backend.setSimd(level);
  return backend.simd();
}

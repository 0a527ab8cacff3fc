export {
  deserialize,
  deserializeWithMetadata,
  MAX_HEADER_BYTES,
  parseHeader,
  serialize,
  type SafetensorsDType,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from './safetensors';
export { load, loadAsync, loadWithMetadata, save, saveAsync } from './file';

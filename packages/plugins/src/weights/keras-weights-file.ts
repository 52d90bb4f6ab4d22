import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { unzipSync } from 'fflate';
import type { Attribute, Dataset, Group } from 'h5wasm';
import type H5wasmModule from 'h5wasm/node';
import { ThawError, messageOf } from '@thaw/core';

/** Which kind of Keras file the weights came from. */
export type KerasWeightsFormat = 'keras2-h5' | 'keras3-weights-h5' | 'keras3-archive';

export const KERAS_FORMAT_TEXT: Record<KerasWeightsFormat, string> = {
  'keras2-h5': 'Keras 2 HDF5 weights',
  'keras3-weights-h5': 'Keras 3 .weights.h5',
  'keras3-archive': 'Keras 3 .keras archive',
};

/** One weight of a layer, as stored: its name in the file, its shape and its values (float32, row-major). */
export interface KerasWeight {
  readonly name: string;
  readonly shape: number[];
  readonly values: Float32Array;
}

/**
 * The weights of a Keras file, layer by layer, each layer's weights in Keras' order (kernel, bias;
 * gamma, beta, moving_mean, moving_variance; …). Only layers that hold weights are listed.
 *
 * `keyedBy` says what the keys of `layers` are: layer names, or — for a Keras 3 weights file
 * written before Keras recorded layer names in it — Keras 3's own position paths
 * (`layers/conv2d_3`: the fourth Conv2D of the model's layers), see `keras3LayerPaths`.
 */
export interface KerasWeights {
  readonly file: string;
  readonly format: KerasWeightsFormat;
  readonly keyedBy: 'name' | 'keras3-path';
  readonly layers: Map<string, KerasWeight[]>;
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
const ZIP_SIGNATURE = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
/** HDF5 looks for its signature at 0, 512, 1024, 2048 … (a file may begin with a user block). */
const HDF5_OFFSETS = [0, 512, 1024, 2048, 4096, 8192];

/** Whether the name says Keras file: .h5, .hdf5, .weights.h5 or .keras. */
export function hasKerasWeightsExtension(path: string): boolean {
  return ['.h5', '.hdf5', '.keras'].includes(extname(path.replace(/[?#].*$/, '')).toLowerCase());
}

type FileKind = 'hdf5' | 'zip' | 'other';

async function fileKind(file: string): Promise<{ kind: FileKind; head: Buffer }> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(HDF5_OFFSETS[HDF5_OFFSETS.length - 1]! + HDF5_SIGNATURE.length);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const bytes = buffer.subarray(0, bytesRead);
    const head = bytes.subarray(0, 16);
    if (HDF5_OFFSETS.some((at) => bytes.subarray(at, at + HDF5_SIGNATURE.length).equals(HDF5_SIGNATURE))) return { kind: 'hdf5', head };
    if (bytes.subarray(0, ZIP_SIGNATURE.length).equals(ZIP_SIGNATURE)) return { kind: 'zip', head };
    return { kind: 'other', head };
  } finally {
    await handle.close();
  }
}

/** Whether a local file is an HDF5 file or a zip archive (so a Keras file, whatever its name). */
export async function looksLikeKerasWeightsFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    return (await fileKind(path)).kind !== 'other';
  } catch {
    return false;
  }
}

/** Reads the layer weights of a Keras 2 .h5, a Keras 3 .weights.h5 or a Keras 3 .keras archive. */
export async function readKerasWeights(path: string): Promise<KerasWeights> {
  const file = resolve(path);
  let kind: FileKind;
  let head: Buffer;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new ThawError(`${file} is not a file; expected a Keras .h5, .weights.h5 or .keras file`);
    ({ kind, head } = await fileKind(file));
  } catch (error) {
    if (error instanceof ThawError) throw error;
    throw new ThawError(`cannot read Keras weights from ${file}: ${messageOf(error)}`);
  }
  if (kind === 'hdf5') return withHdf5File(file, file, (root) => readHdf5Weights(file, root, 'h5'));
  if (kind === 'zip') return readKerasArchive(file);
  const start = [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new ThawError(
    `${file} is not an HDF5 file nor a .keras archive: it begins with the bytes ${start || '(none: the file is empty)'}; ` +
      'expected a Keras 2 .h5 (as keras.applications downloads them), a Keras 3 .weights.h5 or a .keras file',
  );
}

async function readKerasArchive(file: string): Promise<KerasWeights> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(await readFile(file), { filter: (entry) => ['model.weights.h5', 'config.json'].includes(entry.name) });
  } catch (error) {
    throw new ThawError(`${file} is not a readable zip archive (${messageOf(error)}); expected a Keras 3 .keras file`);
  }
  const weights = entries['model.weights.h5'];
  if (!weights) {
    const names: string[] = [];
    unzipSync(await readFile(file), { filter: (entry) => (names.push(entry.name), false) });
    throw new ThawError(
      `${file} holds no model.weights.h5 (it holds ${names.length ? names.join(', ') : 'nothing'}); ` +
        'expected a Keras 3 .keras archive with model.weights.h5, config.json and metadata.json',
    );
  }
  const config = entries['config.json'];
  const dir = await mkdtemp(join(tmpdir(), 'thaw-keras-'));
  try {
    const inner = join(dir, 'model.weights.h5');
    await writeFile(inner, weights);
    const where = `${file} (model.weights.h5)`;
    if ((await fileKind(inner)).kind !== 'hdf5') throw new ThawError(`${where} is not an HDF5 file; expected Keras 3 weights`);
    const read = await withHdf5File(inner, where, (root) => readHdf5Weights(where, root, 'archive'));
    if (read.keyedBy === 'name' || !config) return { ...read, file };
    return { ...nameByConfig(read, config, where), file };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

type H5wasm = typeof H5wasmModule;
let h5wasmModule: Promise<H5wasm> | undefined;

async function loadH5wasm(): Promise<H5wasm> {
  h5wasmModule ??= import('h5wasm/node').then(async (module) => {
    await module.default.ready;
    return module.default;
  });
  return h5wasmModule;
}

/** Opens `path` (a real path: in Node h5wasm reaches the host file system) read-only, always closing it. */
async function withHdf5File<T>(path: string, where: string, read: (root: Group) => T): Promise<T> {
  const h5wasm = await loadH5wasm();
  const file = new h5wasm.File(path, 'r');
  if (file.file_id < 0n) throw new ThawError(`${where}: HDF5 cannot open this file; expected a Keras .h5 file`);
  try {
    return read(file);
  } finally {
    file.close();
  }
}

const isGroup = (entity: unknown): entity is Group => (entity as { type?: string } | null)?.type === 'Group';
const isDataset = (entity: unknown): entity is Dataset => (entity as { type?: string } | null)?.type === 'Dataset';

/** An attribute holding one string or a list of strings (empty numeric arrays read as no strings, as Keras 2 wrote them). */
function stringsOf(attribute: Attribute, where: string): string[] {
  const value = attribute.value;
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  if (ArrayBuffer.isView(value) && (value as unknown as ArrayLike<number>).length === 0) return [];
  throw new ThawError(`${where}: the attribute ${attribute.name} holds ${JSON.stringify(attribute.dtype)} data; expected a list of names`);
}

/** Keras' load_attributes_from_hdf5_group: `name`, or `name0`, `name1` … where a long list was split. */
function namesAttribute(group: Group, name: string, where: string): string[] | undefined {
  const attrs = group.attrs;
  if (attrs[name]) return stringsOf(attrs[name], where);
  if (!attrs[`${name}0`]) return undefined;
  const names: string[] = [];
  for (let chunk = 0; attrs[`${name}${chunk}`]; chunk++) names.push(...stringsOf(attrs[`${name}${chunk}`]!, where));
  return names;
}

function readDataset(dataset: Dataset, name: string, where: string): KerasWeight {
  const { type, size } = dataset.metadata;
  const shape = dataset.shape ?? [];
  const value = type === 1 && (size === 4 || size === 8) ? dataset.value : undefined;
  if (!(value instanceof Float32Array || value instanceof Float64Array)) {
    const kinds: Record<number, string> = { 0: 'integer', 1: 'floating-point', 3: 'string', 6: 'compound', 9: 'variable-length' };
    throw new ThawError(
      `${where}: the dataset ${dataset.path} holds ${kinds[type] ?? `HDF5 class ${type}`} data of ${size} bytes per value; ` +
        'expected float32 or float64 weights',
    );
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (value.length !== count) {
    throw new ThawError(`${where}: the dataset ${dataset.path} has shape [${shape.join(',')}] but ${value.length} values`);
  }
  return { name, shape, values: value instanceof Float32Array ? value : Float32Array.from(value) };
}

function readHdf5Weights(where: string, root: Group, container: 'h5' | 'archive'): KerasWeights {
  let group: Group = root;
  let names = namesAttribute(root, 'layer_names', where);
  const nested = root.get('model_weights');
  if (names === undefined && isGroup(nested)) {
    group = nested;
    names = namesAttribute(nested, 'layer_names', where);
  }
  if (names !== undefined) {
    const layers = new Map<string, KerasWeight[]>();
    for (const layerName of names) {
      const layerGroup = group.get(layerName);
      if (!isGroup(layerGroup)) {
        throw new ThawError(`${where}: layer_names lists ${layerName}, but ${group.path} holds no group of that name`);
      }
      const weightNames = namesAttribute(layerGroup, 'weight_names', where) ?? [];
      const weights = weightNames.map((weightName) => {
        const dataset = layerGroup.get(weightName);
        if (!isDataset(dataset)) {
          throw new ThawError(
            `${where}: ${layerGroup.path} lists the weight ${weightName} in weight_names, but holds no dataset of that name`,
          );
        }
        return readDataset(dataset, weightName, where);
      });
      if (weights.length > 0) layers.set(layerName, weights);
    }
    return { file: where, format: container === 'archive' ? 'keras3-archive' : 'keras2-h5', keyedBy: 'name', layers };
  }
  const layersGroup = root.get('layers') ?? root.get('_layer_checkpoint_dependencies');
  if (isGroup(layersGroup)) return readKeras3Layers(where, layersGroup, container);
  const top = root.keys();
  throw new ThawError(
    `${where}: found no layer_names attribute (Keras 2 weights, at the top or in model_weights) and no layers group (Keras 3 weights); ` +
      `the file holds ${top.length ? top.join(', ') : 'nothing'} at the top`,
  );
}

/** Keras 3: `layers/<class>_<n>/vars/0`, `vars/1` …, the layer's name in the attribute `name` of `vars` (Keras ≥ 3.10 or so). */
function readKeras3Layers(where: string, layersGroup: Group, container: 'h5' | 'archive'): KerasWeights {
  const found: { path: string; name: string | undefined; weights: KerasWeight[] }[] = [];
  const walk = (group: Group, path: string) => {
    for (const key of group.keys()) {
      const child = group.get(key);
      if (!isGroup(child)) continue;
      if (key !== 'vars') {
        walk(child, `${path}/${key}`);
        continue;
      }
      const indices = child.keys();
      if (indices.some((index) => !/^\d+$/.test(index))) {
        throw new ThawError(`${where}: ${child.path} holds ${indices.join(', ')}; expected datasets named 0, 1, 2 … (Keras 3 weights)`);
      }
      const weights = indices
        .map(Number)
        .sort((a, b) => a - b)
        .map((index) => {
          const dataset = child.get(String(index));
          if (!isDataset(dataset)) throw new ThawError(`${where}: ${child.path}/${index} is not a dataset; expected a weight`);
          return readDataset(dataset, String(index), where);
        });
      if (weights.length === 0) continue;
      const name = child.attrs['name'] ? stringsOf(child.attrs['name'], where)[0] : undefined;
      found.push({ path, name, weights });
    }
  };
  walk(layersGroup, 'layers');
  const format = container === 'archive' ? 'keras3-archive' : 'keras3-weights-h5';
  const byName = found.every((entry) => entry.name !== undefined);
  const layers = new Map<string, KerasWeight[]>();
  for (const entry of found) {
    const key = byName ? entry.name! : entry.path;
    if (layers.has(key)) throw new ThawError(`${where}: two layers with weights are named ${key}; expected distinct layer names`);
    layers.set(key, entry.weights);
  }
  return { file: where, format, keyedBy: byName ? 'name' : 'keras3-path', layers };
}

/** Keras' naming.to_snake_case: Conv2D → conv2d, BatchNormalization → batch_normalization, ReLU → re_lu. */
export function kerasSnakeCase(className: string): string {
  return className
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/**
 * The paths Keras 3 saves a model's layers under, from their class names in model order: the
 * snake-case class name, then _1, _2 … for the next layers of the same class (`layers/conv2d`,
 * `layers/conv2d_1`, …). Keras 3 loads its weight files by these paths.
 */
export function keras3LayerPaths(classNames: readonly string[]): string[] {
  const used = new Map<string, number>();
  return classNames.map((className) => {
    const base = kerasSnakeCase(className);
    const count = used.get(base);
    used.set(base, count === undefined ? 0 : count + 1);
    return `layers/${count === undefined ? base : `${base}_${count + 1}`}`;
  });
}

/** Names the layers of a .keras archive written without names in its weights, from its config.json. */
function nameByConfig(read: KerasWeights, configBytes: Uint8Array, where: string): KerasWeights {
  let layerConfigs: { class_name?: unknown; config?: { name?: unknown } }[];
  let modelClass: unknown;
  try {
    const config = JSON.parse(new TextDecoder().decode(configBytes)) as { class_name?: unknown; config?: { layers?: unknown } };
    modelClass = config.class_name;
    layerConfigs = Array.isArray(config.config?.layers) ? (config.config.layers as typeof layerConfigs) : [];
  } catch {
    return read;
  }
  // Sequential lists its InputLayer in the config but not among its layers.
  if (modelClass === 'Sequential') layerConfigs = layerConfigs.filter((layer) => layer.class_name !== 'InputLayer');
  const paths = keras3LayerPaths(layerConfigs.map((layer) => String(layer.class_name)));
  const nameOf = new Map(paths.map((path, i) => [path, layerConfigs[i]!.config?.name]));
  const layers = new Map<string, KerasWeight[]>();
  for (const [path, weights] of read.layers) {
    const name = nameOf.get(path);
    if (typeof name !== 'string' || layers.has(name)) return read;
    layers.set(name, weights);
  }
  return { ...read, file: where, keyedBy: 'name', layers };
}

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ThawError, messageOf } from '@thaw/contracts';

const MODEL_FILE = 'model.json';
const WEIGHTS_FILE = 'weights.bin';

/** A TF.js IOHandler for a folder on disk (model.json + weights.bin), the layout tfjs-node and the converter use. */
export function layersModelFolder(dir: string, userDefinedMetadata?: Record<string, unknown>): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      await mkdir(dir, { recursive: true });
      const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology!,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: null,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
        userDefinedMetadata: { ...artifacts.userDefinedMetadata, ...userDefinedMetadata } as Record<string, object>,
      };
      await writeFile(join(dir, WEIGHTS_FILE), Buffer.from(weightData));
      await writeFile(join(dir, MODEL_FILE), JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const file = join(dir, MODEL_FILE);
      let modelJson: tf.io.ModelJSON;
      try {
        modelJson = JSON.parse(await readFile(file, 'utf8')) as tf.io.ModelJSON;
      } catch (error) {
        throw new ThawError(`${file}: cannot read the model (${messageOf(error)}); expected a TF.js layers model.json`);
      }
      if (modelJson.modelTopology === undefined || !Array.isArray(modelJson.weightsManifest)) {
        throw new ThawError(`${file}: not a TF.js layers model; expected modelTopology and weightsManifest`);
      }
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const buffers = await Promise.all(
          manifest.flatMap((group) =>
            group.paths.map(async (path) => {
              try {
                const bytes = await readFile(join(dir, path));
                return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
              } catch (error) {
                throw new ThawError(`${join(dir, path)}: cannot read weights (${messageOf(error)}) named by ${file}`);
              }
            }),
          ),
        );
        return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
      });
    },
  };
}

import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { expect } from 'chai';
import { unzipSync, zipSync } from 'fflate';
import h5wasm from 'h5wasm/node';
import * as tf from '@tensorflow/tfjs';
import { ThawError, disposeModel, type BaseModelContext } from '@thaw/core';
import { MobileNetV2Base } from '@thaw/plugins';
import { REPO_ROOT, recordingLogger, temporaryFolder } from '../helpers/fixtures.js';

/** Made by test/fixtures/keras/make_fixtures.py with Keras 3.15.1 (tensorflow-cpu 2.21.0). */
const FIXTURES = join(REPO_ROOT, 'test/fixtures/keras');
const STEM = 'mobilenet_v2_0.35_96_no_top';
const TOLERANCE = 1e-4;

function context(specDir: string): BaseModelContext & { log: ReturnType<typeof recordingLogger> } {
  return { inputShape: [96, 96, 3], seed: 1, specDir, log: recordingLogger(), where: 'spec.yaml: model.base' };
}

interface Facts {
  input: { file: string; shape: number[] };
  output: { file: string; shape: number[] };
}

async function float32File(name: string): Promise<Float32Array> {
  const bytes = await readFile(join(FIXTURES, name));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** Removes the layer names Keras 3 writes on each `vars` group, as Keras before them did not write them. */
function stripKeras3LayerNames(file: string): number {
  const h5 = new h5wasm.File(file, 'a');
  let removed = 0;
  try {
    const layers = h5.get('layers') as InstanceType<typeof h5wasm.Group>;
    for (const key of layers.keys()) {
      const vars = h5.get(`layers/${key}/vars`) as InstanceType<typeof h5wasm.Group> | null;
      if (vars && 'name' in vars.attrs) removed += vars.delete_attribute('name') >= 0 ? 1 : 0;
    }
  } finally {
    h5.close();
  }
  return removed;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected the build to fail').to.be.instanceOf(ThawError);
  return error as Error;
}

describe('Keras weight files for the mobilenet-v2 base', function () {
  this.timeout(180_000);
  const plugin = new MobileNetV2Base();
  let dir = '';
  let remove: () => Promise<void>;
  let x: tf.Tensor;
  let expected: Float32Array;
  let outputShape: number[];

  before(async () => {
    ({ dir, remove } = await temporaryFolder());
    await h5wasm.ready;
    const facts = JSON.parse(await readFile(join(FIXTURES, 'fixtures.json'), 'utf8')) as Facts;
    x = tf.tensor(await float32File(facts.input.file), facts.input.shape, 'float32');
    expected = await float32File(facts.output.file);
    outputShape = facts.output.shape;
  });
  after(async () => {
    x.dispose();
    await remove();
  });

  /** The largest absolute difference between the base's output (inference) and Keras' output. */
  async function maxDifference(weights: string, specDir = FIXTURES): Promise<{ difference: number; description: string; log: string[] }> {
    const ctx = context(specDir);
    const base = await plugin.build({ alpha: 0.35, size: 96, weights }, ctx);
    try {
      const y = base.model.predict(x) as tf.Tensor;
      expect(y.shape).to.deep.equal(outputShape);
      const actual = (await y.data()) as Float32Array;
      y.dispose();
      let difference = 0;
      for (let i = 0; i < expected.length; i++) difference = Math.max(difference, Math.abs(actual[i]! - expected[i]!));
      return { difference, description: base.description, log: ctx.log.lines };
    } finally {
      disposeModel(base.model);
    }
  }

  const formats = [
    { file: `${STEM}.h5`, format: 'Keras 2 HDF5 weights' },
    { file: `${STEM}.weights.h5`, format: 'Keras 3 .weights.h5' },
    { file: `${STEM}.keras`, format: 'Keras 3 .keras archive' },
  ];
  for (const { file, format } of formats) {
    it(`gives Keras' output with the weights of a ${format} file (${file}), to within ${TOLERANCE}`, async () => {
      const { difference, description, log } = await maxDifference(file);
      console.log(`      ${format} (${file}): largest absolute difference to Keras ${difference.toExponential(3)}`);
      expect(difference).to.be.at.most(TOLERANCE);
      expect(description).to.equal(`MobileNetV2 alpha 0.35, 96×96×3, weights from ${join(FIXTURES, file)} (${format})`);
      expect(log).to.deep.equal([]);
    });
  }

  it('reads Keras 3 files whose layers carry no names (older Keras 3) by Keras’ layer paths, or by config.json in a .keras archive', async () => {
    const weightsFile = join(dir, 'unnamed.weights.h5');
    await copyFile(join(FIXTURES, `${STEM}.weights.h5`), weightsFile);
    expect(stripKeras3LayerNames(weightsFile)).to.equal(154);
    const byPath = await maxDifference(weightsFile, dir);
    console.log(
      `      Keras 3 .weights.h5 without layer names: largest absolute difference to Keras ${byPath.difference.toExponential(3)}`,
    );
    expect(byPath.difference).to.be.at.most(TOLERANCE);
    expect(byPath.description).to.match(/\(Keras 3 \.weights\.h5, whose layers carry no names, matched by Keras 3 layer paths\)$/);

    const entries = unzipSync(await readFile(join(FIXTURES, `${STEM}.keras`)));
    entries['model.weights.h5'] = await readFile(weightsFile);
    await writeFile(join(dir, 'unnamed.keras'), zipSync(entries));
    const byConfig = await maxDifference('unnamed.keras', dir);
    expect(byConfig.difference).to.be.at.most(TOLERANCE);
    expect(byConfig.description).to.match(/\(Keras 3 \.keras archive\)$/);
  });

  it('downloads a Keras .h5 given as an http URL, as keras.applications files are', async () => {
    const bytes = await readFile(join(FIXTURES, `${STEM}.h5`));
    const server: Server = createServer((request, response) => {
      if (request.url === `/keras-applications/mobilenet_v2/${STEM}.h5`) response.end(bytes);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const url = `http://127.0.0.1:${port}/keras-applications/mobilenet_v2/${STEM}.h5`;
      const { difference, description } = await maxDifference(url);
      expect(difference).to.be.at.most(TOLERANCE);
      expect(description).to.include(`weights from ${url} (Keras 2 HDF5 weights)`);
      const missing = await rejection(plugin.build({ alpha: 0.35, size: 96, weights: url.replace(STEM, 'nothing') }, context(dir)));
      expect(missing.message).to.match(
        /^spec\.yaml: model\.base\.weights: cannot download Keras weights from http:.*nothing\.h5: HTTP 404/,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses a file that is not HDF5, naming it and saying what it begins with', async () => {
    await writeFile(join(dir, 'not-weights.h5'), 'these are not weights\n');
    const error = await rejection(plugin.build({ alpha: 0.35, size: 96, weights: 'not-weights.h5' }, context(dir)));
    expect(error.message).to.equal(
      `spec.yaml: model.base.weights: ${join(dir, 'not-weights.h5')} is not an HDF5 file nor a .keras archive: ` +
        'it begins with the bytes 74 68 65 73 65 20 61 72; ' +
        'expected a Keras 2 .h5 (as keras.applications downloads them), a Keras 3 .weights.h5 or a .keras file',
    );
  });

  it('refuses the weights of another architecture, naming the file and the first layer that does not match', async () => {
    const error = await rejection(plugin.build({ alpha: 0.35, size: 96, weights: 'other_architecture.h5' }, context(FIXTURES)));
    expect(error.message).to.match(
      /^spec\.yaml: model\.base\.weights: the weights in .*other_architecture\.h5 \(Keras 2 HDF5 weights\) are not of this architecture: the first layer that does not match is Conv1;/,
    );
    expect(error.message).to.match(/missing \(102\): expanded_conv_depthwise, expanded_conv_depthwise_BN,/);
    expect(error.message).to.match(
      /mis-shaped \(2\): Conv1 \(expected \[3,3,3,16\], found \[3,3,3,8\]\), bn_Conv1 \(expected \[16\] \[16\] \[16\] \[16\], found \[8\] \[8\] \[8\] \[8\]\)/,
    );
    expect(error.message).to.match(/extra \(1\): Logits$/);

    // The same model saved whole (weights under model_weights) by Keras 3's legacy .h5 writer.
    const whole = await rejection(plugin.build({ alpha: 0.35, size: 96, weights: 'other_architecture_model.h5' }, context(FIXTURES)));
    expect(whole.message).to.match(
      /other_architecture_model\.h5 \(Keras 2 HDF5 weights\) are not of this architecture: the first layer that does not match is Conv1;/,
    );
  });

  it('refuses HDF5 files that hold no Keras weights or weights that are not floats, and archives without model.weights.h5', async () => {
    const plain = new h5wasm.File(join(dir, 'plain.h5'), 'w');
    plain.create_dataset({ name: 'x', data: new Float32Array([1, 2, 3]) });
    plain.close();
    const noLayers = await rejection(plugin.build({ alpha: 0.35, size: 96, weights: 'plain.h5' }, context(dir)));
    expect(noLayers.message).to.equal(
      `spec.yaml: model.base.weights: ${join(dir, 'plain.h5')}: found no layer_names attribute (Keras 2 weights, at the top or in model_weights) ` +
        'and no layers group (Keras 3 weights); the file holds x at the top',
    );

    const ints = new h5wasm.File(join(dir, 'ints.h5'), 'w');
    ints.create_attribute('layer_names', ['Conv1']);
    const conv = ints.create_group('Conv1');
    conv.create_attribute('weight_names', ['Conv1/kernel:0']);
    conv
      .create_group('Conv1')
      .create_dataset({ name: 'kernel:0', data: new Int32Array(3 * 3 * 3 * 16), shape: [3, 3, 3, 16], dtype: '<i' });
    ints.close();
    const integers = await rejection(plugin.build({ alpha: 0.35, size: 96, weights: 'ints.h5' }, context(dir)));
    expect(integers.message).to.equal(
      `spec.yaml: model.base.weights: ${join(dir, 'ints.h5')}: the dataset /Conv1/Conv1/kernel:0 holds integer data of 4 bytes per value; ` +
        'expected float32 or float64 weights',
    );

    await writeFile(join(dir, 'empty.keras'), zipSync({ 'config.json': new TextEncoder().encode('{}') }));
    const archive = await rejection(plugin.build({ alpha: 0.35, size: 96, weights: 'empty.keras' }, context(dir)));
    expect(archive.message).to.equal(
      `spec.yaml: model.base.weights: ${join(dir, 'empty.keras')} holds no model.weights.h5 (it holds config.json); ` +
        'expected a Keras 3 .keras archive with model.weights.h5, config.json and metadata.json',
    );
  });
});

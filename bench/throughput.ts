/**
 * Images per second of the small CNN (small-convnet [32, 64, 128], 28×28×1, 5 classes, batch 32):
 * inference and one full training step, on each backend asked for.
 *   node bench/dist/throughput.js [backend …]   (default: every backend that loads except cpu)
 */
import * as tf from '@tensorflow/tfjs';
import { BACKEND_NAMES, compileInference, makeOptimizer, objectiveFor, selectBackend, type BackendName } from '@thaw/core';
import { SmallConvnet } from '@thaw/plugins';

const BATCH = 32;

async function buildModel(): Promise<tf.LayersModel> {
  const base = await new SmallConvnet().build(new SmallConvnet().optionsSchema.parse({}), {
    inputShape: [28, 28, 1],
    seed: 1,
    specDir: '.',
    log: { info: () => undefined, warn: () => undefined },
    where: 'bench',
  });
  const pooled = tf.layers.globalAveragePooling2d({}).apply(base.model.outputs[0]!) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: 5, activation: 'softmax' }).apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: base.model.inputs, outputs: output });
}

/** Runs `step` for about `seconds` after a warm-up; returns steps per second. */
async function rate(step: () => Promise<void>, seconds: number): Promise<number> {
  await step();
  await step();
  let steps = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    await step();
    steps++;
  }
  return steps / ((performance.now() - started) / 1000);
}

async function measure(backend: BackendName): Promise<void> {
  await selectBackend(backend);
  const model = await buildModel();
  const x = tf.randomUniform([BATCH, 28, 28, 1]);
  const y = tf.oneHot(tf.randomUniform([BATCH], 0, 5, 'int32'), 5);
  const optimizer = makeOptimizer('adam', 0, 1e-3);
  const objective = objectiveFor('softmax', 10);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const seconds = backend === 'cpu' ? 20 : 5;
  const inference = await rate(async () => {
    const out = model.predict(x) as tf.Tensor;
    await out.data();
    out.dispose();
  }, seconds);
  const training = await rate(async () => {
    const cost = tf.tidy(() =>
      optimizer.minimize(() => objective.loss(y, model.apply(x, { training: true }) as tf.Tensor), true, variables)!,
    );
    await cost.data();
    cost.dispose();
  }, seconds);
  // The frozen base as thaw runs it when it cannot be cached: inference only, BN folded, fused convolutions.
  const baseOutput = model.getLayer('block3_pool').getOutputAt(0) as tf.SymbolicTensor;
  const base = tf.model({ inputs: model.inputs, outputs: baseOutput });
  const compiled = compileInference(base);
  const plain = await rate(async () => {
    const out = base.predict(x) as tf.Tensor;
    await out.data();
    out.dispose();
  }, seconds);
  const folded = await rate(async () => {
    const out = compiled.run(x);
    await out.data();
    out.dispose();
  }, seconds);
  compiled.dispose();
  const perSecond = (steps: number) => (steps * BATCH).toFixed(0).padStart(6);
  console.log(
    `${backend.padEnd(9)} inference ${perSecond(inference)} images/s   training ${perSecond(training)} images/s   ` +
      `frozen base: predict ${perSecond(plain)} images/s, BN folded + fused ${perSecond(folded)} images/s`,
  );
  optimizer.dispose();
  tf.dispose([x, y]);
  model.dispose();
}

const requested = process.argv.slice(2) as BackendName[];
const backends = requested.length > 0 ? requested : BACKEND_NAMES.filter((name) => name !== 'cpu');
console.log(`small CNN (${BATCH} × 28×28×1, 93,541 trainable params)`);
for (const backend of backends) {
  try {
    await measure(backend);
  } catch (error) {
    console.log(`${backend.padEnd(9)} unavailable: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  }
}

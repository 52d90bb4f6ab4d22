/**
 * Where a training step's time goes: the step of thaw's train stage (model.apply in training mode,
 * the objective's loss, optimizer.minimize over the trainable variables) on the trainable part of
 * a bench/fine-tune-cases.ts workload, batch 32, with every kernel of the backend wrapped in a
 * timer. Prints per kernel: calls (dispatches) per step and ms per step (self time: kernels run
 * from inside other kernels are counted on their own line), and the time outside kernels (TF.js'
 * engine, the gradient tape, the layers' JavaScript). `--frozen` also profiles the frozen part's
 * inference on a batch, which runs every step when the frozen-feature cache is off.
 *   node bench/dist/profile-train-step.js [--backend auto|node|wasm|cpu] [--case mnv2-1.0-160] [--steps 10] [--top 25] [--frozen]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import {
  BuildStage,
  FreezeStage,
  TrialPlanner,
  disposeModel,
  makeOptimizer,
  objectiveFor,
  selectBackend,
  type BackendName,
  type BuiltModel,
} from '@thaw/core';
import { speedCase, speedContainer, speedSpec } from './fine-tune-cases.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    case: { type: 'string', default: 'mnv2-1.0-160' },
    steps: { type: 'string', default: '10' },
    top: { type: 'string', default: '25' },
    frozen: { type: 'boolean', default: false },
  },
});
const backend = await selectBackend(values.backend as BackendName | 'auto');
const c = speedCase(values.case);
const steps = Number(values.steps);

interface KernelStats {
  calls: number;
  selfMs: number;
}
const stats = new Map<string, KernelStats>();
/** Time spent in kernels run from inside the kernel at each depth, to take off its self time. */
const childMs: number[] = [];
let timing = false;

// Kernels are looked up on every op, so re-registering them wraps every dispatch.
for (const config of tf.getKernelsForBackend(backend.tfName)) {
  const inner = config.kernelFunc;
  const name = config.kernelName;
  tf.unregisterKernel(name, backend.tfName);
  tf.registerKernel({
    ...config,
    kernelFunc: (args) => {
      if (!timing) return inner(args);
      childMs.push(0);
      const started = performance.now();
      const out = inner(args);
      const ms = performance.now() - started;
      const inside = childMs.pop()!;
      if (childMs.length > 0) childMs[childMs.length - 1]! += ms;
      const entry = stats.get(name) ?? { calls: 0, selfMs: 0 };
      entry.calls++;
      entry.selfMs += ms - inside;
      stats.set(name, entry);
      return out;
    },
  });
}

async function profile(label: string, work: () => void): Promise<void> {
  for (let i = 0; i < 3; i++) work(); // warm-up: first calls allocate, compile and cache
  await tf.nextFrame();
  stats.clear();
  timing = true;
  const started = performance.now();
  for (let i = 0; i < steps; i++) work();
  timing = false;
  const wallMs = (performance.now() - started) / steps;
  const rows = [...stats].map(([name, s]) => ({ name, calls: s.calls / steps, ms: s.selfMs / steps })).sort((a, b) => b.ms - a.ms);
  const kernelMs = rows.reduce((sum, r) => sum + r.ms, 0);
  const calls = rows.reduce((sum, r) => sum + r.calls, 0);
  console.log(
    `\n${label}: ${wallMs.toFixed(1)} ms per step (${((32 / wallMs) * 1000).toFixed(0)} images/s), ${calls.toFixed(0)} dispatches, ` +
      `${kernelMs.toFixed(1)} ms in kernels, ${(wallMs - kernelMs).toFixed(1)} ms outside them (${(((wallMs - kernelMs) / calls) * 1000).toFixed(0)} µs per dispatch)`,
  );
  console.log(`  ${'kernel'.padEnd(28)} ${'calls'.padStart(6)} ${'ms'.padStart(8)} ${'share'.padStart(6)}`);
  for (const r of rows.slice(0, Number(values.top)))
    console.log(
      `  ${r.name.padEnd(28)} ${r.calls.toFixed(0).padStart(6)} ${r.ms.toFixed(2).padStart(8)} ${((100 * r.ms) / wallMs).toFixed(1).padStart(5)}%`,
    );
  const rest = rows.slice(Number(values.top));
  if (rest.length > 0)
    console.log(
      `  ${`(${rest.length} more)`.padEnd(28)} ${rest
        .reduce((s, r) => s + r.calls, 0)
        .toFixed(0)
        .padStart(6)} ${rest
        .reduce((s, r) => s + r.ms, 0)
        .toFixed(2)
        .padStart(8)}`,
    );
}

const { container, scratch, remove } = await speedContainer();
let built: BuiltModel | undefined;
try {
  const loaded = await speedSpec(scratch, c, 1, true);
  const plan = await container.get<TrialPlanner>(TrialPlanner).plan(loaded);
  built = await container.get<BuildStage>(BuildStage).build(plan);
  const phase = plan.phases[0]!;
  const frozen = container.get<FreezeStage>(FreezeStage).apply(built, phase);
  const train = loaded.spec.train;
  const optimizer = makeOptimizer(phase.optimizer ?? train.optimizer, train.momentum, phase.learningRate);
  const objective = objectiveFor(built.output, c.classes);
  const variables = frozen.trainable.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const images = tf.randomUniform<tf.Rank.R4>([32, ...c.imageShape], 0, 1, 'float32', 1);
  const x = frozen.frozenInference ? frozen.frozenInference.run(images) : images;
  const y = objective.targets(Int32Array.from({ length: 32 }, (_, i) => i % c.classes));
  console.log(
    `${c.description} on ${backend.detail}: trainable part from ${frozen.cutAfterUnit ?? 'the input'}, input ${JSON.stringify(x.shape)}, ` +
      `${variables.length} trainable variables`,
  );
  // As TrainStageImpl's step: loss and correct count in one tape, minimize, results kept until read.
  await profile('training step (trainable part)', () => {
    const [loss, correct] = tf.tidy(() => {
      let correctCount: tf.Scalar | undefined;
      const loss = optimizer.minimize(
        () => {
          const outputs = frozen.trainable.apply(x, { training: true }) as tf.Tensor;
          correctCount = tf.keep(objective.correct(y, outputs));
          return objective.loss(y, outputs);
        },
        true,
        variables,
      )!;
      return [loss, correctCount!];
    });
    tf.dispose([loss, correct]);
  });
  if (values.frozen && frozen.frozenInference)
    await profile('frozen part, inference (every step without the cache)', () => tf.dispose(frozen.frozenInference!.run(images)));
  tf.dispose([images, x, y]);
  optimizer.dispose();
  frozen.release();
} finally {
  if (built) disposeModel(built.model);
  await remove();
}

import * as tf from '@tensorflow/tfjs';

let nextId = 0;

/**
 * One TF.js optimizer stepping all its variables as one flat vector. TF.js' optimizers update
 * variable by variable, 10–15 small kernels each (MobileNetV2's fine-tuning: 56 variables, ~800
 * dispatches per step); here the gradients and values are joined, the wrapped optimizer runs its
 * own update once on the join, and the result is split back (3 dispatches per variable, plus the
 * update's). Every update is elementwise, so each value is computed by the same operations as
 * when stepped alone: the same numbers, bit for bit (test/unit/flat-optimizer.spec.ts).
 *
 * The first step fixes the variables (in order); a later step with others is refused.
 */
export class FlatOptimizer extends tf.Optimizer {
  private flat: tf.Variable | undefined;
  private names: readonly string[] = [];

  constructor(private readonly inner: tf.Optimizer) {
    super();
  }

  override getClassName(): string {
    return this.inner.getClassName();
  }

  override getConfig(): tf.serialization.ConfigDict {
    return this.inner.getConfig();
  }

  override applyGradients(variableGradients: Parameters<tf.Optimizer['applyGradients']>[0]): void {
    const given = Array.isArray(variableGradients)
      ? variableGradients
      : Object.entries(variableGradients).map(([name, tensor]) => ({ name, tensor }));
    // As TF.js' optimizers, a variable without a gradient is left alone.
    const gradients = given.filter(({ tensor }) => tensor != null);
    if (gradients.length === 0) return;
    const names = gradients.map(({ name }) => name);
    if (this.flat === undefined) this.names = names;
    else if (names.length !== this.names.length || names.some((name, i) => name !== this.names[i]))
      throw new Error(`FlatOptimizer: stepped first with ${this.names.join(', ')}, now with ${names.join(', ')}`);
    const variables = names.map((name) => {
      const variable = tf.engine().registeredVariables[name];
      if (!variable) throw new Error(`FlatOptimizer: no variable named ${name}`);
      return variable;
    });
    tf.tidy(() => {
      const values = tf.concat(variables.map((variable) => variable.reshape([-1])));
      if (this.flat === undefined) {
        this.flat = tf.variable(values, false, `thaw_flat_optimizer_${nextId++}`);
      } else {
        this.flat.assign(values);
      }
      const gradient = tf.concat(gradients.map(({ tensor }) => tensor.reshape([-1])));
      this.inner.applyGradients({ [this.flat.name]: gradient });
      const parts = tf.split(
        this.flat,
        variables.map((variable) => variable.size),
      );
      variables.forEach((variable, i) => variable.assign(parts[i]!.reshape(variable.shape)));
    });
    this.incrementIterations();
  }

  override dispose(): void {
    this.inner.dispose();
    this.flat?.dispose();
    this.flat = undefined;
    super.dispose();
  }
}

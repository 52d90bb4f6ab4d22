/** The files of a new base-model plugin package, as `thaw plugin new <name>` writes them. */

function pascal(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/**
 * `shared`: the packages the plugin shares with thaw — a `file:` link to the copy thaw uses (to
 * build and test against) and the semver range a published plugin asks for.
 */
export function pluginFiles(name: string, shared: Readonly<Record<string, { link: string; range: string }>>): Record<string, string> {
  const className = `${pascal(name)}Base`;
  const packageName = `thaw-plugin-${name}`;
  const json = (value: unknown) => `${JSON.stringify(value, undefined, 2)}\n`;
  return {
    'package.json': json({
      name: packageName,
      version: '0.1.0',
      description: `A thaw base-model plugin: ${name}`,
      type: 'module',
      main: 'dist/src/index.js',
      exports: { '.': './dist/src/index.js' },
      files: ['dist/src'],
      scripts: { build: 'tsc -p .', test: 'tsc -p . && mocha dist/test' },
      peerDependencies: Object.fromEntries(Object.entries(shared).map(([pkg, { range }]) => [pkg, range])),
      devDependencies: {
        ...Object.fromEntries(Object.entries(shared).map(([pkg, { link }]) => [pkg, link])),
        typescript: '^6.0.3',
        mocha: '^12.0.3',
        chai: '^6.3.0',
        '@types/chai': '^5.2.3',
        '@types/mocha': '^10.0.10',
        '@types/node': '^20.19.0',
      },
    }),
    'tsconfig.json': json({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        experimentalDecorators: true,
        declaration: true,
        skipLibCheck: true,
        rootDir: '.',
        outDir: 'dist',
        types: ['node', 'mocha'],
      },
      include: ['src', 'test'],
    }),
    'src/index.ts': `import { ContainerModule } from 'inversify';
import { BaseModelPlugin } from '@thaw/contracts';
import { ${className} } from './${name}-base-model.js';

export { ${className} } from './${name}-base-model.js';

/** What thaw loads from a spec's \`plugins:\` list: bindings of this package's contributions. */
export default new ContainerModule(({ bind }) => {
  bind(${className}).toSelf().inSingletonScope();
  bind(BaseModelPlugin).toService(${className});
});
`,
    [`src/${name}-base-model.ts`]: `import * as tf from '@tensorflow/tfjs';
import { injectable } from 'inversify';
import { z } from 'zod';
import type { BaseModel, BaseModelContext, BaseModelPlugin, ModelUnit } from '@thaw/contracts';

/** The options a spec may give under model.base; thaw validates them and lists them in \`thaw plugins\`. */
const optionsSchema = z.strictObject({
  filters: z.array(z.number().int().min(1)).min(1).default([8, 16]).describe('filters of each block, input → output'),
});
type Options = z.output<typeof optionsSchema>;

/**
 * ${name}: blocks of convolution + BatchNormalization + ReLU + max pooling, each block a unit
 * (the layers thaw unfreezes together; the network may be cut between units). Replace the body
 * of build() with your architecture, or load a pretrained model (tf.loadLayersModel) here.
 */
@injectable()
export class ${className} implements BaseModelPlugin<Options> {
  readonly id = '${name}';
  readonly description = '${name}: conv + BN + ReLU + pool blocks, each block a unit';
  readonly optionsSchema = optionsSchema;

  build(options: Options, context: BaseModelContext): Promise<BaseModel> {
    const input = tf.input({ shape: [...context.inputShape], name: '${name.replaceAll('-', '_')}_input' });
    const units: ModelUnit[] = [];
    let x: tf.SymbolicTensor = input;
    options.filters.forEach((filters, index) => {
      const prefix = \`${name.replaceAll('-', '_')}_block\${index + 1}\`;
      const layers = [
        tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, name: \`\${prefix}_conv\` }),
        tf.layers.batchNormalization({ momentum: 0.9, name: \`\${prefix}_bn\` }),
        tf.layers.activation({ activation: 'relu', name: \`\${prefix}_relu\` }),
        tf.layers.maxPooling2d({ poolSize: 2, name: \`\${prefix}_pool\` }),
      ];
      x = layers.reduce<tf.SymbolicTensor>((tensor, layer) => layer.apply(tensor) as tf.SymbolicTensor, x);
      units.push({ name: \`block\${index + 1}\`, layers: layers.map((layer) => layer.name) });
    });
    const model = tf.model({ inputs: input, outputs: x, name: '${name.replaceAll('-', '_')}' });
    return Promise.resolve({ model, units, inputRange: [0, 1], description: \`${name} filters [\${options.filters.join(', ')}]\` });
  }
}
`,
    [`test/${name}.spec.ts`]: `import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { silentLogger } from '@thaw/contracts';
import { ${className} } from '../src/${name}-base-model.js';

describe('${name} base model', () => {
  it('builds one unit per block, every layer in a unit, the size halved by each block', async () => {
    const plugin = new ${className}();
    const options = plugin.optionsSchema.parse({ filters: [4, 8] });
    const base = await plugin.build(options, { inputShape: [28, 28, 1], seed: 1, specDir: '.', log: silentLogger, where: 'test' });
    expect(base.units.map((unit) => unit.name)).to.deep.equal(['block1', 'block2']);
    expect(base.units.flatMap((unit) => unit.layers)).to.deep.equal(base.model.layers.slice(1).map((layer) => layer.name));
    expect(base.model.outputs[0]!.shape).to.deep.equal([null, 7, 7, 8]);
    base.model.dispose();
    expect(tf.memory().numTensors).to.be.a('number');
  });
});
`,
    'README.md': `# ${packageName}

A thaw base-model plugin: \`${name}\`.

\`\`\`bash
npm install            # thaw's contracts, TF.js, inversify and zod are linked to the copies thaw uses
npm run build          # compiles to dist/
npm test               # builds and runs the tests (mocha)
\`\`\`

Use it from a spec, by path (relative to the spec) or, once installed, by name:

\`\`\`yaml
plugins: [./${packageName}]       # or: [${name}] after npm install
model:
  base: { plugin: ${name}, filters: [8, 16] }
strategy: { plugin: fine-tune, unfreeze: 1 }
\`\`\`

\`npx thaw plugins\` lists it with its options; \`npx thaw summary spec.yaml\` shows its units and what
each unfreeze depth trains. The contracts are explained in thaw's docs/plugins.md.
`,
  };
}

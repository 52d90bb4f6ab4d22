import type { CommandModule } from 'yargs';
import * as tf from '@tensorflow/tfjs';
import {
  BACKEND_CANDIDATES,
  featureCacheOptionsFromEnv,
  findNativeBuild,
  nativeRoot,
  selectBackend,
  reasonOf,
  textTable,
} from '@thaw/core';

/** `thaw doctor`: which backends load here, which one thaw will use and why. */
export const doctorCommand: CommandModule = {
  command: 'doctor',
  describe: 'show which TF.js backends are available, which one thaw uses, and why',
  handler: async () => {
    const rows: string[][] = [['backend', 'package', 'status']];
    let chosen: string | undefined;
    for (const candidate of BACKEND_CANDIDATES) {
      try {
        const choice = await selectBackend(candidate.name);
        rows.push([candidate.name, choice.detail, chosen === undefined ? 'available — used by default' : 'available']);
        chosen ??= candidate.name;
      } catch (error) {
        rows.push([candidate.name, candidate.packageName, `unavailable: ${reasonOf(error).replace(/^--backend \S+: /, '')}`]);
      }
    }
    const build = await findNativeBuild();
    const cache = featureCacheOptionsFromEnv();
    const lines = [
      textTable(rows),
      '',
      `default backend: ${chosen ?? 'none'} (order: ${BACKEND_CANDIDATES.map((c) => c.name).join(', ')}; --backend overrides)`,
      build
        ? `native build: TensorFlow ${build.tensorflowVersion} from ${build.source}, in ${build.dir}`
        : `native build: none in ${nativeRoot()} — \`thaw native install\` builds one from a TensorFlow wheel`,
      `frozen-feature cache: ${cache.memoryBytes / 2 ** 20} MB in memory, ${cache.diskBytes / 2 ** 20} MB on disk in ${cache.dir}`,
      `TF.js ${tf.version_core}, Node.js ${process.version}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};

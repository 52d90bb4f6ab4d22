import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { ThawError, messageOf, type Logger } from '@thaw/contracts';
import { nativeRoot, recordNativeBuild, type NativeBuild } from './native-build.js';

const run = promisify(execFile);

export interface NativeInstallOptions {
  /** A TensorFlow wheel (.whl) or a site-packages folder holding `tensorflow/`; fetched with pip when absent. */
  readonly tensorflow?: string;
  /** Version to fetch with pip when no wheel is given. */
  readonly tensorflowVersion: string;
  /** `tensorflow-cpu`, or `tensorflow` (with CUDA on Linux). */
  readonly pipPackage: string;
  readonly python: string;
  readonly log: Logger;
}

/**
 * Copies from a wheel (zip) or a site-packages folder the C API headers tfjs-node's binding
 * includes (following their #includes) and the two libtensorflow shared libraries.
 */
const EXTRACT_SCRIPT = String.raw`
import os, re, shutil, sys, zipfile
source, dest = sys.argv[1], sys.argv[2]
PREFIX = 'tensorflow/include/'
if os.path.isdir(source):
    def exists(member): return os.path.isfile(os.path.join(source, member))
    def read(member): return open(os.path.join(source, member), 'rb').read()
    def copy(member, out): shutil.copyfile(os.path.join(source, member), out)
else:
    archive = zipfile.ZipFile(source)
    names = set(archive.namelist())
    def exists(member): return member in names
    def read(member): return archive.read(member)
    def copy(member, out):
        with archive.open(member) as src, open(out, 'wb') as dst: shutil.copyfileobj(src, dst, 1 << 20)
roots = ['tensorflow/c/c_api.h', 'tensorflow/c/eager/c_api.h', 'tensorflow/c/tf_datatype.h', 'tensorflow/c/tf_status.h',
         'tensorflow/c/tf_tensor.h', 'tensorflow/core/platform/ctstring_internal.h']
seen, todo = set(), list(roots)
while todo:
    header = todo.pop()
    if header in seen: continue
    seen.add(header)
    if not exists(PREFIX + header):
        if header in roots: sys.exit('missing header ' + PREFIX + header)
        continue
    todo.extend(re.findall(r'#\s*include\s+"([^"]+)"', read(PREFIX + header).decode('utf-8', 'replace')))
for header in seen:
    if exists(PREFIX + header):
        out = os.path.join(dest, 'include', header)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        open(out, 'wb').write(read(PREFIX + header))
os.makedirs(os.path.join(dest, 'lib'), exist_ok=True)
for lib in ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']:
    if not exists('tensorflow/' + lib): sys.exit('missing tensorflow/' + lib)
    copy('tensorflow/' + lib, os.path.join(dest, 'lib', lib))
`;

async function step<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ThawError) throw error;
    const stderr = (error as { stderr?: string }).stderr?.trim().split('\n').slice(-3).join(' | ');
    throw new ThawError(`native install: ${what} failed: ${stderr || messageOf(error)}`);
  }
}

/** The wheel to build from: the one given, or one fetched with pip into thaw's cache. */
async function locateTensorflow(options: NativeInstallOptions): Promise<{ source: string; version: string }> {
  if (options.tensorflow !== undefined) {
    const source = resolve(options.tensorflow);
    const info = await stat(source).catch(() => undefined);
    if (!info)
      throw new ThawError(
        `--tensorflow: received ${JSON.stringify(options.tensorflow)}, which does not exist; expected a TensorFlow wheel or a site-packages folder`,
      );
    if (info.isDirectory()) {
      if (!existsSync(join(source, 'tensorflow', 'libtensorflow_cc.so.2'))) {
        throw new ThawError(
          `--tensorflow: ${source} has no tensorflow/libtensorflow_cc.so.2; expected a site-packages folder with TensorFlow installed`,
        );
      }
      const distInfo = (await readdir(source)).find((name) => /^tensorflow(_cpu)?-[\d.]+\.dist-info$/.test(name));
      return { source, version: distInfo?.match(/-([\d.]+)\.dist-info$/)?.[1] ?? 'unknown' };
    }
    const version = basename(source).match(/^tensorflow(?:_cpu|_gpu)?-([^-]+)-/)?.[1];
    if (!source.endsWith('.whl') || version === undefined) {
      throw new ThawError(
        `--tensorflow: received ${JSON.stringify(options.tensorflow)}; expected a wheel named tensorflow[_cpu]-<version>-….whl or a site-packages folder`,
      );
    }
    return { source, version };
  }
  const wheels = join(nativeRoot(), 'wheels');
  await mkdir(wheels, { recursive: true });
  const requirement = `${options.pipPackage}==${options.tensorflowVersion}`;
  options.log.info(`native install: fetching ${requirement} with ${options.python} -m pip`);
  await step(`pip download ${requirement}`, () =>
    run(options.python, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', requirement, '-d', wheels], { maxBuffer: 1 << 24 }),
  );
  const stem = options.pipPackage.replaceAll('-', '_');
  const wheel = (await readdir(wheels)).find((name) => name.startsWith(`${stem}-${options.tensorflowVersion}-`) && name.endsWith('.whl'));
  if (!wheel) throw new ThawError(`native install: pip reported success but no ${stem}-${options.tensorflowVersion} wheel is in ${wheels}`);
  return { source: join(wheels, wheel), version: options.tensorflowVersion };
}

/** node-gyp as npm ships it, and the Node headers to build against when they are installed locally. */
function nodeGyp(): { script: string; nodedir: string | undefined } {
  const prefix = resolve(dirname(process.execPath), '..');
  const candidates = [join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed beside thaw
  }
  const script = candidates.find((candidate) => existsSync(candidate));
  if (!script)
    throw new ThawError(`native install: node-gyp not found (looked in ${candidates.join(', ')}); expected npm's bundled node-gyp`);
  const nodedir = existsSync(join(prefix, 'include/node/node_api.h')) ? prefix : undefined;
  return { script, nodedir };
}

/**
 * Builds tfjs-node's binding against the libtensorflow inside a TensorFlow Python wheel: installs
 * tfjs-node (without its download script) into thaw's cache, copies headers and libraries from the
 * wheel, compiles the binding with node-gyp, and checks that it runs before recording it.
 */
export async function installNative(options: NativeInstallOptions): Promise<NativeBuild> {
  const { source, version } = await locateTensorflow(options);
  const tfjsVersion = tf.version_core;
  const dir = join(nativeRoot(), `tfjs-node-${tfjsVersion}_tensorflow-${version}`);
  const log = options.log;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ private: true, description: 'tfjs-node built by thaw native install' }));

  log.info(`native install: installing @tensorflow/tfjs-node@${tfjsVersion} into ${dir}`);
  await step('npm install @tensorflow/tfjs-node', () =>
    run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--no-save', `@tensorflow/tfjs-node@${tfjsVersion}`], {
      cwd: dir,
      maxBuffer: 1 << 24,
    }),
  );
  const packageDir = join(dir, 'node_modules', '@tensorflow', 'tfjs-node');
  const deps = join(packageDir, 'deps');

  log.info(`native install: copying libtensorflow and its C API headers from ${source}`);
  await step('extracting TensorFlow', () => run(options.python, ['-c', EXTRACT_SCRIPT, source, deps], { maxBuffer: 1 << 24 }));
  // The binding links -ltensorflow; in a wheel the C API lives in libtensorflow_cc.
  await symlink('libtensorflow_cc.so.2', join(deps, 'lib', 'libtensorflow.so'));
  await symlink('libtensorflow_framework.so.2', join(deps, 'lib', 'libtensorflow_framework.so'));

  const napi = 8;
  const gyp = nodeGyp();
  log.info(`native install: compiling the binding (N-API ${napi}) with node-gyp`);
  await step('node-gyp rebuild', () =>
    run(
      process.execPath,
      [
        gyp.script,
        'rebuild',
        `--napi_build_version=${napi}`,
        '--module_name=tfjs_binding',
        `--module_path=${join(packageDir, 'lib', `napi-v${napi}`)}`,
        ...(gyp.nodedir ? [`--nodedir=${gyp.nodedir}`] : []),
      ],
      { cwd: packageDir, maxBuffer: 1 << 26 },
    ),
  );
  await rm(join(packageDir, 'build'), { recursive: true, force: true });

  const build: NativeBuild = { dir, tfjsNodeVersion: tfjsVersion, tensorflowVersion: version, source, builtAt: new Date().toISOString() };
  log.info('native install: checking that the binding loads and computes');
  await step('loading the built binding', () => verify(build));
  await recordNativeBuild(build);
  return build;
}

/** Loads the build in a fresh process (a failed native load must not take this one down) and runs a matmul. */
async function verify(build: NativeBuild): Promise<void> {
  const here = createRequire(import.meta.url).resolve('@tensorflow/tfjs');
  const script = `
    const tf = require(${JSON.stringify(here)});
    import(${JSON.stringify(new URL('./native-build.js', import.meta.url).href)})
      .then((m) => m.loadNativeBuild(${JSON.stringify(build)}))
      .then(() => tf.setBackend('tensorflow'))
      .then((ok) => {
        const product = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[1], [1]])).dataSync();
        if (!ok || tf.getBackend() !== 'tensorflow' || product[0] !== 3 || product[1] !== 7) throw new Error('wrong result');
      })
      .catch((error) => { console.error(error.message); process.exit(1); });`;
  await run(process.execPath, ['-e', script], { maxBuffer: 1 << 24 });
}

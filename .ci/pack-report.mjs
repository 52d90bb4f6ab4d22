// Prints what each packed tarball holds, and fails if a package carries what it should not
// (tests, fixtures, TypeScript sources, source maps, build info) or lacks its entry points.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const folder = process.argv[2];
const forbidden = [/(^|\/)test\//, /(^|\/)fixtures\//, /\.map$/, /\.tsbuildinfo$/, /^package\/src\//, /\.spec\.js$/];
let failed = false;
for (const name of readdirSync(folder)
  .filter((file) => file.endsWith('.tgz'))
  .sort()) {
  const files = execFileSync('tar', ['-tzf', join(folder, name)], { encoding: 'utf8' })
    .trim()
    .split('\n');
  const size = statSync(join(folder, name)).size;
  const wrong = files.filter((file) => forbidden.some((pattern) => pattern.test(file)));
  const missing = ['package/package.json', 'package/dist/index.js', 'package/dist/index.d.ts'].filter((file) => !files.includes(file));
  console.log(`${name}: ${(size / 1024).toFixed(0)} KiB packed, ${files.length} files`);
  for (const file of [...wrong.map((f) => `  should not hold ${f}`), ...missing.map((f) => `  lacks ${f}`)]) console.log(file);
  failed ||= wrong.length > 0 || missing.length > 0;
}
if (failed) process.exit(1);

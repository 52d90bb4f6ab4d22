import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { REPO_ROOT } from '../helpers/fixtures.js';

/** Every file under a folder, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map((name) => join(dir, name));
}

describe('@thaw/contracts', () => {
  it('holds what a plugin needs without thaw’s runtime: at run time it imports zod alone', async () => {
    const dist = join(REPO_ROOT, 'packages/contracts/dist');
    const imported = new Set<string>();
    for (const file of (await filesUnder(dist)).filter((name) => name.endsWith('.js'))) {
      const source = await readFile(file, 'utf8');
      for (const match of source.matchAll(/^(?:import|export)[^'"]*from '([^'.][^']*)'/gm)) imported.add(match[1]!);
    }
    expect([...imported]).to.deep.equal(['zod']);
    const manifest = JSON.parse(await readFile(join(REPO_ROOT, 'packages/contracts/package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies)).to.deep.equal(['zod']);
  });

  it('is what @thaw/core re-exports: one ThawError class, one set of symbols', async () => {
    const contracts = await import('@thaw/contracts');
    const core = await import('@thaw/core');
    expect(core.ThawError).to.equal(contracts.ThawError);
    expect(core.BaseModelPlugin).to.equal(contracts.BaseModelPlugin);
    expect(core.TrialPlanner).to.equal(contracts.TrialPlanner);
  });
});

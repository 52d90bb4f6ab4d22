import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { ThawError, loadSpec } from '@thaw/core';
import { temporaryFolder, tinySpec, writeSpec } from '../helpers/fixtures.js';

describe('experiment spec loader', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  async function errorOf(promise: Promise<unknown>): Promise<ThawError> {
    try {
      await promise;
    } catch (error) {
      expect(error).to.be.instanceOf(ThawError);
      return error as ThawError;
    }
    throw new Error('expected a ThawError');
  }

  it('fills every default explicitly', async () => {
    const file = await writeSpec(dir, 'minimal.yaml', {
      name: 'minimal',
      data: { plugin: 'fashion-mnist' },
      model: { base: { plugin: 'small-convnet' } },
    });
    const { spec } = await loadSpec(file);
    expect(spec.seed).to.equal(1);
    expect(spec.strategy).to.deep.equal({ plugin: 'fine-tune' });
    expect(spec.train).to.deep.equal({ epochs: 10, batchSize: 32, optimizer: 'adam', learningRate: 0.001, momentum: 0, cacheFrozen: true });
    expect(spec.model.head).to.deep.equal({ pooling: 'average', hidden: [], dropout: 0.2 });
    expect(spec.augment).to.deep.equal([]);
    expect(spec.evaluate.split).to.equal('test');
    expect(spec.tracking.store).to.equal('mlruns');
  });

  it('applies --set overrides, reading values as YAML', async () => {
    const file = await writeSpec(dir, 'set.yaml', tinySpec());
    const { spec } = await loadSpec(file, ['strategy.unfreeze=all', 'train.epochs=5', 'data.classes=[1, 2]', 'augment[0].op=flip']);
    expect(spec.strategy['unfreeze']).to.equal('all');
    expect(spec.train.epochs).to.equal(5);
    expect(spec.data['classes']).to.deep.equal([1, 2]);
    expect(spec.augment).to.deep.equal([{ op: 'flip', mode: 'horizontal' }]);
  });

  it('names the field, the value received and what is expected', async () => {
    const file = await writeSpec(dir, 'bad-type.yaml', tinySpec({ train: { epochs: 'ten' } }));
    const error = await errorOf(loadSpec(file));
    expect(error.message).to.contain('bad-type.yaml').and.contain('train.epochs').and.contain('"ten"').and.contain('integer');
  });

  it('lists the allowed keys for an unknown one', async () => {
    const file = await writeSpec(dir, 'typo.yaml', tinySpec({ train: { epoch: 3 } }));
    const error = await errorOf(loadSpec(file));
    expect(error.message).to.match(/train\.epoch: unknown option \(received 3\); allowed: epochs, batchSize/);
  });

  it('rejects a file that is not YAML, naming it', async () => {
    const file = join(dir, 'broken.yaml');
    await writeFile(file, 'name: [unclosed\n  data: {');
    const error = await errorOf(loadSpec(file));
    expect(error.message).to.contain('broken.yaml').and.contain('not valid YAML');
  });

  it('rejects a YAML document that is not a mapping', async () => {
    const file = join(dir, 'list.yaml');
    await writeFile(file, '- a\n- b\n');
    expect((await errorOf(loadSpec(file))).message).to.contain('expected a YAML mapping');
  });

  it('rejects a missing spec file', async () => {
    expect((await errorOf(loadSpec(join(dir, 'nope.yaml')))).message)
      .to.contain('nope.yaml')
      .and.contain('cannot read');
  });

  it('rejects a malformed --set', async () => {
    const file = await writeSpec(dir, 'set-bad.yaml', tinySpec());
    expect((await errorOf(loadSpec(file, ['strategy.unfreeze']))).message).to.contain('expected path=value');
  });
});

import { expect } from 'chai';
import { expandSweep, suggestTpe, type SearchSpace, type TpeObservation, type TpeOptions } from '@thaw/core';

const space: SearchSpace = {
  'strategy.unfreeze': { int: [0, 10] },
  'train.learningRate': { logUniform: [1e-5, 1e-1] },
  'model.head.dropout': { uniform: [0, 0.5] },
  'train.optimizer': { choice: ['adam', 'sgd', 'rmsprop'] },
};

/** Smooth, with its best at unfreeze 4, learning rate 1e-3, dropout 0.2 and adam. */
function accuracy(values: Readonly<Record<string, unknown>>): number {
  const unfreeze = values['strategy.unfreeze'] as number;
  const rate = values['train.learningRate'] as number;
  const dropout = values['model.head.dropout'] as number;
  return (
    0.9 -
    (unfreeze - 4) ** 2 / 160 -
    (Math.log10(rate) + 3) ** 2 / 40 -
    (dropout - 0.2) ** 2 +
    (values['train.optimizer'] === 'adam' ? 0.02 : 0)
  );
}

/** Trials one after another, each suggested from all the finished ones before it. */
function runSequential(
  searchSpace: SearchSpace,
  objective: (values: Readonly<Record<string, unknown>>) => number,
  trials: number,
  options: TpeOptions,
): TpeObservation[] {
  const observations: TpeObservation[] = [];
  for (let index = 0; index < trials; index++) {
    const values = suggestTpe(searchSpace, observations, index, options);
    observations.push({ values, value: objective(values) });
  }
  return observations;
}

function randomSearch(searchSpace: SearchSpace, seed: number, trials: number): Record<string, unknown>[] {
  return expandSweep({
    grid: {},
    random: { trials, seed, space: searchSpace, sampler: 'random', startupTrials: 10 },
    parallel: 1,
    metric: { name: 'val_accuracy', goal: 'max' },
  });
}

function expectInSpace(values: Readonly<Record<string, unknown>>): void {
  const unfreeze = values['strategy.unfreeze'] as number;
  expect(Number.isInteger(unfreeze) && unfreeze >= 0 && unfreeze <= 10, `unfreeze ${unfreeze}`).to.equal(true);
  const rate = values['train.learningRate'] as number;
  expect(rate >= 1e-5 && rate <= 1e-1, `learning rate ${rate}`).to.equal(true);
  const dropout = values['model.head.dropout'] as number;
  expect(dropout >= 0 && dropout <= 0.5, `dropout ${dropout}`).to.equal(true);
  expect(['adam', 'sgd', 'rmsprop']).to.include(values['train.optimizer']);
  expect(Object.keys(values)).to.have.members(Object.keys(space));
}

describe('TPE sampler', () => {
  it('draws the startup trials as random search does, each from its own index whatever ran before', () => {
    // Index 0 is seeded with the sweep's seed: random search's first trial.
    for (const seed of [0, 1, 7, 123456]) {
      expect(suggestTpe(space, [], 0, { seed, goal: 'max' })).to.deep.equal(randomSearch(space, seed, 3)[0]);
    }
    const options: TpeOptions = { seed: 3, goal: 'max' };
    const before = runSequential(space, accuracy, 6, options);
    expect(suggestTpe(space, before, 6, options)).to.deep.equal(suggestTpe(space, [], 6, options));
    const drawn = Array.from({ length: 300 }, (_, index) => suggestTpe(space, [], index, options));
    drawn.forEach(expectInSpace);
    // Spread over the whole space: every int and member, both decades at the ends of the log range.
    expect(new Set(drawn.map((values) => values['strategy.unfreeze'])).size).to.equal(11);
    expect(new Set(drawn.map((values) => values['train.optimizer'])).size).to.equal(3);
    const rates = drawn.map((values) => values['train.learningRate'] as number);
    expect(rates.some((rate) => rate < 1e-4) && rates.some((rate) => rate > 1e-2)).to.equal(true);
  });

  it('gives the same values for the same inputs, and different ones for another index or seed', () => {
    const options: TpeOptions = { seed: 5, goal: 'max' };
    const observations = runSequential(space, accuracy, 15, options);
    const suggestion = suggestTpe(space, observations, 15, options);
    expect(suggestTpe(space, structuredClone(observations), 15, { ...options })).to.deep.equal(suggestion);
    expect(suggestTpe(space, observations, 16, options)).to.not.deep.equal(suggestion);
    expect(suggestTpe(space, observations, 15, { ...options, seed: 6 })).to.not.deep.equal(suggestion);
  });

  it('keeps every value in its space, leaving out observed values that are missing or outside it', () => {
    const junk: TpeObservation[] = [
      { values: {}, value: 0.99 },
      {
        values: { 'strategy.unfreeze': 2.5, 'train.learningRate': -1, 'model.head.dropout': '0.1', 'train.optimizer': 'adamw' },
        value: 0.98,
      },
      { values: { 'strategy.unfreeze': 11, 'train.learningRate': 1, 'model.head.dropout': 0.7, 'train.optimizer': null }, value: 0.97 },
      { values: { 'strategy.unfreeze': 4 }, value: Number.NaN },
    ];
    for (const seed of [1, 2, 3]) {
      const options: TpeOptions = { seed, goal: 'max' };
      const observations: TpeObservation[] = [...junk];
      for (let index = 0; index < 40; index++) {
        const values = suggestTpe(space, observations, index, options);
        expectInSpace(values);
        observations.push({ values, value: accuracy(values) });
      }
      // No startup: the prior alone.
      expectInSpace(suggestTpe(space, [], 0, { seed, goal: 'min', startupTrials: 0 }));
    }
  });

  it('concentrates near the optimum after the startup trials, for each kind of parameter and either goal', () => {
    const cases: { space: SearchSpace; distance: (value: unknown) => number }[] = [
      { space: { x: { uniform: [0, 1] } }, distance: (x) => Math.abs((x as number) - 0.7) },
      { space: { x: { int: [0, 10] } }, distance: (x) => Math.abs((x as number) - 7) },
      { space: { x: { logUniform: [1e-5, 1e-1] } }, distance: (x) => Math.abs(Math.log10(x as number) + 3) },
      { space: { x: { choice: ['a', 'b', 'c', 'd', 'e'] } }, distance: (x) => ['c', 'b', 'd', 'a', 'e'].indexOf(x as string) },
    ];
    for (const { space: oneD, distance } of cases) {
      for (const goal of ['max', 'min'] as const) {
        let tpe = 0;
        let random = 0;
        for (let seed = 1; seed <= 5; seed++) {
          const objective = (values: Readonly<Record<string, unknown>>) => (goal === 'max' ? -1 : 1) * distance(values['x']);
          const observations = runSequential(oneD, objective, 60, { seed, goal });
          tpe += observations.slice(10).reduce((sum, observation) => sum + distance(observation.values['x']), 0);
          random += randomSearch(oneD, seed, 60)
            .slice(10)
            .reduce((sum, values) => sum + distance(values['x']), 0);
        }
        expect(tpe, `${JSON.stringify(oneD)} ${goal}: TPE ${tpe / 250} random ${random / 250}`).to.be.below(0.6 * random);
      }
    }
  });

  it('picks by l(x)/g(x): away from the bad trials, not just near the good one', () => {
    // The best trial at 0.5, the nine others crowded just below it: l alone is symmetric about 0.5, the ratio is not.
    const observations: TpeObservation[] = [
      { values: { x: 0.5 }, value: 1 },
      ...Array.from({ length: 9 }, (_, i) => ({ values: { x: 0.4 + i / 100 }, value: -i })),
    ];
    const above = Array.from({ length: 100 }, (_, index) =>
      suggestTpe({ x: { uniform: [0, 1] } }, observations, index, { seed: 1, goal: 'max' }),
    )
      .map((values) => values['x'] as number)
      .filter((x) => x > 0.5);
    expect(above.length).to.be.above(80);
  });

  it('mirrors the goals: maximising f suggests what minimising −f does', () => {
    for (const seed of [1, 2]) {
      const max = runSequential(space, accuracy, 30, { seed, goal: 'max' });
      const min = runSequential(space, (values) => -accuracy(values), 30, { seed, goal: 'min' });
      expect(min.map((observation) => observation.values)).to.deep.equal(max.map((observation) => observation.values));
    }
  });

  it('resumes: trial k suggested from the first k observations, in any order, is the sequential run’s trial k', () => {
    const options: TpeOptions = { seed: 9, goal: 'max', startupTrials: 5, candidates: 12 };
    const sequential = runSequential(space, accuracy, 30, options);
    for (let k = sequential.length - 1; k >= 0; k--) {
      expect(suggestTpe(space, structuredClone(sequential.slice(0, k)), k, options), `trial ${k}`).to.deep.equal(sequential[k]!.values);
    }
  });
});

import { expect } from 'chai';
import { replicateSummary, studentTCdf, studentTQuantile } from '@thaw/core';

describe('seeds as replicates', () => {
  it('computes Student’s t as the tables give it', () => {
    expect(studentTCdf(0, 3)).to.be.closeTo(0.5, 1e-12);
    for (const [df, t] of [
      [1, 12.706],
      [2, 4.303],
      [4, 2.776],
      [10, 2.228],
      [30, 2.042],
    ] as const) {
      expect(studentTQuantile(0.975, df), `df ${df}`).to.be.closeTo(t, 1e-3);
      expect(studentTCdf(t, df), `df ${df}`).to.be.closeTo(0.975, 1e-4);
    }
    expect(1 - studentTCdf(2, 8)).to.be.closeTo(0.0403, 1e-4);
  });

  it('gives each depth its mean, spread and interval, and recommends the shallowest not significantly worse than the best', () => {
    const rows = [
      // depth 0: clearly worse; depth 1: close to the best; all: the best mean
      ...[0.8, 0.81, 0.79].map((metric, i) => ({ values: { 'strategy.unfreeze': 0, seed: i + 1 }, metric })),
      ...[0.88, 0.9, 0.86].map((metric, i) => ({ values: { 'strategy.unfreeze': 1, seed: i + 1 }, metric })),
      ...[0.89, 0.9, 0.91].map((metric, i) => ({ values: { 'strategy.unfreeze': 'all', seed: i + 1 }, metric })),
    ];
    const summary = replicateSummary(rows, ['strategy.unfreeze', 'seed'], 'max')!;
    expect(summary.groups.map((g) => g.label)).to.deep.equal(['unfreeze=0', 'unfreeze=1', 'unfreeze=all']);
    const [zero, one, all] = summary.groups;
    expect(zero!.mean).to.be.closeTo(0.8, 1e-12);
    expect(zero!.std).to.be.closeTo(0.01, 1e-12);
    expect(zero!.ci95[1] - zero!.mean).to.be.closeTo(4.303 * (0.01 / Math.sqrt(3)), 1e-4);
    expect(summary.best).to.equal(all);
    expect(summary.pWorse['unfreeze=0']).to.be.below(0.05);
    expect(summary.pWorse['unfreeze=1']).to.be.above(0.05);
    expect(summary.recommended).to.equal(one);
    // Lower is better: the goal flips the test.
    const losses = rows.map((row) => ({ ...row, metric: 1 - row.metric }));
    expect(replicateSummary(losses, ['strategy.unfreeze', 'seed'], 'min')!.recommended.label).to.equal('unfreeze=1');
  });

  it('says nothing without replicates: no seed swept, or one seed for a configuration', () => {
    expect(replicateSummary([{ values: { 'strategy.unfreeze': 0 }, metric: 1 }], ['strategy.unfreeze'], 'max')).to.equal(undefined);
    const one = [
      { values: { 'strategy.unfreeze': 0, seed: 1 }, metric: 0.5 },
      { values: { 'strategy.unfreeze': 1, seed: 1 }, metric: 0.6 },
    ];
    expect(replicateSummary(one, ['strategy.unfreeze', 'seed'], 'max')).to.equal(undefined);
  });
});

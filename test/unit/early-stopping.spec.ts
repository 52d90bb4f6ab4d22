import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { EarlyStopping, type EpochLogs } from '@thaw/core';

const logs = (epoch: number, valLoss: number): EpochLogs => ({
  epoch,
  phase: 'p',
  loss: 1,
  accuracy: 0,
  valLoss,
  valAccuracy: 0,
  seconds: 0,
});

describe('early stopping', () => {
  it('stops after `patience` epochs without improvement of val_loss', () => {
    const stopping = new EarlyStopping({ monitor: 'val_loss', patience: 2, minDelta: 0, restoreBestWeights: false }, []);
    expect([1.0, 0.8, 0.9, 0.85].map((v, i) => stopping.update(logs(i, v)))).to.deep.equal([false, false, false, true]);
  });

  it('restores the best weights when asked to', () => {
    const variable = tf.variable(tf.scalar(1));
    const stopping = new EarlyStopping({ monitor: 'val_loss', patience: 1, minDelta: 0, restoreBestWeights: true }, [variable]);
    stopping.update(logs(0, 0.5));
    variable.assign(tf.scalar(7));
    expect(stopping.update(logs(1, 0.9))).to.equal(true);
    stopping.finish();
    expect(variable.dataSync()[0]).to.equal(1);
    variable.dispose();
  });
});

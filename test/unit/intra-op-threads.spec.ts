import { expect } from 'chai';
import { intraOpThreads } from '@thaw/core';

describe('intraOpThreads', () => {
  it('gives each op the cores other processes leave at least partly free, at least one', () => {
    expect(intraOpThreads(2, 0.1)).to.equal(2);
    expect(intraOpThreads(2, 0.7)).to.equal(2);
    expect(intraOpThreads(2, 1.2)).to.equal(1);
    expect(intraOpThreads(2, 6.5)).to.equal(1);
    expect(intraOpThreads(16, 3.4)).to.equal(13);
    expect(intraOpThreads(16, 0)).to.equal(16);
    expect(intraOpThreads(1, 0)).to.equal(1);
  });
});

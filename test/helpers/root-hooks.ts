import { selectBackend, type BackendName } from '@thaw/core';

/** Every suite runs on one backend: THAW_TEST_BACKEND, else the fastest available. */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    const requested = (process.env['THAW_TEST_BACKEND'] ?? 'auto') as BackendName | 'auto';
    const choice = await selectBackend(requested);
    process.stderr.write(`tests run on the ${choice.name} backend\n`);
  },
};

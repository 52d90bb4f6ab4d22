export { pluginsModule, default } from './plugins-module.js';
export * from './base-models/from-run.js';
export * from './base-models/derive-units.js';
export * from './base-models/layers-model.js';
export * from './base-models/small-convnet.js';
export * from './datasets/fashion-mnist/fashion-mnist-dataset.js';
export * from './datasets/fashion-mnist/fashion-mnist-files.js';
export * from './datasets/fashion-mnist/idx-file.js';
export * from './strategies/fine-tune-strategy.js';

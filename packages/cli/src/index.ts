export { main } from './main.js';
export { createCliContainer, loadSpecPlugins } from './create-cli-container.js';
export { ConsoleProgress } from './console-progress.js';

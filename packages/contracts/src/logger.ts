/** Where thaw writes what a user should read. The CLI binds a console logger; tests bind a silent one. */
export const Logger = Symbol('Logger');
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined };

export const consoleLogger: Logger = {
  info: (message) => console.error(message),
  warn: (message) => console.error(`warning: ${message}`),
};

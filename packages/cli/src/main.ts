import yargs from 'yargs';
import { CLAIMED_EXIT_CODE, PRUNED_EXIT_CODE, ThawError, TrialClaimed, TrialInterrupted, TrialPruned, messageOf } from '@thaw/core';
import { dataCommand } from './commands/data-command.js';
import { doctorCommand } from './commands/doctor-command.js';
import { nativeCommand } from './commands/native-command.js';
import { pluginCommand } from './commands/plugin-command.js';
import { pluginsCommand } from './commands/plugins-command.js';
import { registerCommand } from './commands/register-command.js';
import { reportCommand } from './commands/report-command.js';
import { runCommand } from './commands/run-command.js';
import { summaryCommand } from './commands/summary-command.js';
import { sweepCommand } from './commands/sweep-command.js';
import { syncCommand } from './commands/sync-command.js';
import { uiCommand } from './commands/ui-command.js';
import { workerCommand } from './commands/worker-command.js';

const STORAGE_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder, not a file',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
};

/** A failed write or read of a file, as one line naming the path and what went wrong; undefined for anything else. */
function storageProblem(error: unknown): string | undefined {
  const { code, path, syscall, dest } = (error ?? {}) as NodeJS.ErrnoException & { dest?: string };
  if (code === undefined || path === undefined || !(code in STORAGE_ERRORS)) return undefined;
  // A failed copy names where it was going: that is where the space or the permission is missing.
  if (dest !== undefined) return `cannot copy ${path} to ${dest}: ${STORAGE_ERRORS[code]} (${code})`;
  return `cannot ${syscall ?? 'use'} ${path}: ${STORAGE_ERRORS[code]} (${code})`;
}

/** Runs the CLI; returns the exit code: 0 success, 2 bad input, 130 interrupted, 1 anything else. */
export async function main(argv: readonly string[]): Promise<number> {
  let usageError: string | undefined;
  const cli = yargs([...argv])
    .scriptName('thaw')
    .usage('$0 <command>\n\nTransfer-learning experiments on TensorFlow.js: unfreeze depth as one axis of a sweep.')
    .command(runCommand)
    .command(sweepCommand)
    .command(reportCommand)
    .command(workerCommand)
    .command(syncCommand)
    .command(registerCommand)
    .command(uiCommand)
    .command(summaryCommand)
    .command(dataCommand)
    .command(pluginsCommand)
    .command(pluginCommand)
    .command(nativeCommand)
    .command(doctorCommand)
    .demandCommand(1, 'expected a command')
    .strict()
    .help()
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((message, error) => {
      if (error) throw error;
      usageError = message;
    });
  try {
    await cli.parseAsync();
    if (usageError !== undefined) {
      process.stderr.write(`thaw: ${usageError}\nRun thaw --help for usage.\n`);
      return 2;
    }
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof TrialInterrupted) {
      process.stderr.write('thaw: interrupted\n');
      return 130;
    }
    if (error instanceof TrialPruned) {
      process.stderr.write(`thaw: ${error.message}\n`);
      return PRUNED_EXIT_CODE;
    }
    if (error instanceof TrialClaimed) {
      process.stderr.write(`thaw: ${error.message}\n`);
      return CLAIMED_EXIT_CODE;
    }
    if (error instanceof ThawError) {
      process.stderr.write(`thaw: ${error.message}\n`);
      return error.exitCode;
    }
    const storage = storageProblem(error);
    if (storage !== undefined) {
      process.stderr.write(`thaw: ${storage}\n`);
      return 1;
    }
    process.stderr.write(`thaw: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : messageOf(error)}\n`);
    return 1;
  }
}

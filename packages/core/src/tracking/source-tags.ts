import { execFileSync } from 'node:child_process';
import { basename, dirname, relative } from 'node:path';
import { userInfo } from 'node:os';

function git(dir: string, ...args: string[]): string | undefined {
  try {
    return (
      execFileSync('git', args, { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim() || undefined
    );
  } catch {
    return undefined;
  }
}

/** Where a spec lies, as recorded: relative to its git repository's root (or its file name alone), never a machine path. */
export function recordedSpecPath(specFile: string): string {
  const root = git(dirname(specFile), 'rev-parse', '--show-toplevel');
  return root === undefined ? basename(specFile) : relative(root, specFile).split('\\').join('/');
}

/**
 * The tags MLflow's UI reads for a run's source (user, source name and type, git commit), the same
 * for a sweep run and its trials; the spec as a path inside its repository.
 */
export function sourceTags(specFile: string): Record<string, string> {
  const spec = recordedSpecPath(specFile);
  const commit = git(dirname(specFile), 'rev-parse', 'HEAD');
  return {
    'mlflow.user': userInfo().username,
    'mlflow.source.name': spec,
    'mlflow.source.type': 'LOCAL',
    'thaw.spec': spec,
    ...(commit === undefined ? {} : { 'mlflow.source.git.commit': commit }),
  };
}

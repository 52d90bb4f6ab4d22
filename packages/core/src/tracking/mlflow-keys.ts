import { ThawError, describeValue } from '@thaw/contracts';

/** MLflow's limits on keys, as a real server enforces them (see the recorded contract). */
export const MAX_KEY_LENGTH = 250;
const KEY_CHARACTERS = /^[\p{L}\p{N}_\-. :/]+$/u;

/** Rejects a param, metric or tag key that MLflow would refuse, naming the key and the rule. */
export function checkMlflowKey(kind: 'param' | 'metric' | 'tag', key: string): void {
  const problem =
    key.length === 0
      ? 'it is empty'
      : key.length > MAX_KEY_LENGTH
        ? `it has ${key.length} characters; at most ${MAX_KEY_LENGTH} are allowed`
        : !KEY_CHARACTERS.test(key)
          ? 'only letters, digits, underscores, dashes, periods, spaces, colons and slashes are allowed'
          : key.startsWith('/') || key.endsWith('/') || key.includes('//') || key.split('/').some((part) => part === '..' || part === '.')
            ? 'it would resolve to another path (leading, trailing or double slash, or a . or .. component)'
            : undefined;
  if (problem !== undefined) throw new ThawError(`invalid MLflow ${kind} key ${describeValue(key)}: ${problem}`);
}

import { z } from 'zod';
import { ThawError } from './errors/thaw-error.js';
import { formatSchemaIssues } from './errors/format-schema-issues.js';

/** What every plugin contribution (base model, strategy, dataset) has. */
export interface PluginContribution<Options = unknown> {
  /** kebab-case, unique within its kind; what a spec names in `plugin:`. */
  readonly id: string;
  readonly description: string;
  /** Validates the plugin's options; unknown keys must be rejected (use `z.strictObject`). */
  readonly optionsSchema: z.ZodType<Options>;
}

/**
 * Validates a plugin's options from a spec section. `where` is the file and field of the section,
 * e.g. `experiments/x.yaml: model.base`, so the error names the exact option that is wrong.
 */
export function validatePluginOptions<Options>(plugin: PluginContribution<Options>, options: unknown, where: string): Options {
  const result = plugin.optionsSchema.safeParse(options);
  if (result.success) return result.data;
  const [file, field] = splitWhere(where);
  const allowed = plugin.optionsSchema instanceof z.ZodObject ? Object.keys(plugin.optionsSchema.shape) : undefined;
  const lines = formatSchemaIssues(result.error, options, field, (path) => (path.length === 0 ? allowed : undefined));
  throw new ThawError(`${file}: invalid options for ${plugin.id}\n  ${lines.join('\n  ')}`);
}

function splitWhere(where: string): [string, string] {
  const colon = where.lastIndexOf(': ');
  return colon < 0 ? [where, ''] : [where.slice(0, colon), where.slice(colon + 2)];
}

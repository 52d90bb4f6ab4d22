import type { CommandModule } from 'yargs';
import { z } from 'zod';
import { PluginRegistry, consoleLogger, loadSpec, textTable, type RegisteredPlugin } from '@thaw/core';
import { createCliContainer, loadSpecPlugins } from '../create-cli-container.js';

interface PluginsArgs {
  spec?: string;
  json: boolean;
}

interface OptionInfo {
  name: string;
  type: string;
  default?: unknown;
  description?: string;
}

type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  default?: unknown;
  description?: string;
  properties?: Record<string, JsonSchema>;
};

function typeOf(schema: JsonSchema): string {
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(' | ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(' | ');
  if (schema.type === 'array') return `${schema.items ? typeOf(schema.items) : 'any'}[]`;
  if (schema.type === 'object' && schema.properties) return `{ ${Object.keys(schema.properties).join(', ')} }`;
  return Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type ?? 'any');
}

/** The options a contribution accepts, read from its schema. */
export function describeOptions(plugin: RegisteredPlugin): OptionInfo[] {
  const schema = z.toJSONSchema(plugin.contribution.optionsSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return Object.entries(schema.properties ?? {}).map(([name, property]) => ({
    name,
    type: typeOf(property),
    ...(property.default === undefined ? {} : { default: property.default }),
    ...(property.description === undefined ? {} : { description: property.description }),
  }));
}

/** `thaw plugins [spec]`: every registered base model, strategy and dataset, with options and source. */
export const pluginsCommand: CommandModule<object, PluginsArgs> = {
  command: 'plugins [spec]',
  describe: 'list base models, strategies and datasets, with their options and where they come from',
  builder: (yargs) =>
    yargs
      .positional('spec', { type: 'string', describe: 'also load the plugins this spec names' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
  handler: async (args) => {
    const container = await createCliContainer({ logger: consoleLogger });
    if (args.spec !== undefined) await loadSpecPlugins(container, await loadSpec(args.spec));
    const plugins = container.get<PluginRegistry>(PluginRegistry).list();
    if (args.json) {
      const entries = plugins.map((plugin) => ({
        kind: plugin.kind,
        id: plugin.contribution.id,
        description: plugin.contribution.description,
        source: plugin.source,
        options: describeOptions(plugin),
      }));
      process.stdout.write(`${JSON.stringify(entries, undefined, 2)}\n`);
      return;
    }
    const sections: string[] = [];
    for (const kind of ['base model', 'strategy', 'dataset'] as const) {
      const ofKind = plugins.filter((plugin) => plugin.kind === kind);
      const lines = [`${kind === 'strategy' ? 'strategies' : `${kind}s`}:`];
      for (const plugin of ofKind) {
        lines.push(`  ${plugin.contribution.id}  [${plugin.source.kind}: ${plugin.source.name}]`, `    ${plugin.contribution.description}`);
        const options = describeOptions(plugin);
        if (options.length === 0) continue;
        const table = textTable(
          options.map((option) => [
            option.name,
            option.type,
            option.default === undefined ? '' : `default ${JSON.stringify(option.default)}`,
            option.description ?? '',
          ]),
        );
        lines.push(...table.split('\n').map((line) => `      ${line}`));
      }
      sections.push(lines.join('\n'));
    }
    process.stdout.write(`${sections.join('\n\n')}\n`);
  },
};

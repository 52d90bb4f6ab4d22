import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse, stringify, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ExperimentSpecSchema, ThawError, formatSchemaIssues, messageOf, type ExperimentSpec, type LoadedSpec } from '@thaw/contracts';
import { applySetOverride, setSpecValue } from './set-override.js';

/** Reads a YAML experiment spec, applies `--set` overrides and validates every field. */
export async function loadSpec(file: string, overrides: readonly string[] = []): Promise<LoadedSpec> {
  return resolveSpec(await readRawSpec(file), file, overrides);
}

/** A spec file as YAML data, before validation (what a sweep varies). */
export interface RawSpec {
  readonly file: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export async function readRawSpec(file: string): Promise<RawSpec> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ThawError(`${file}: cannot read the spec (${messageOf(error)}); expected a YAML experiment spec`);
  }
  let raw: unknown;
  try {
    raw = parse(text, { prettyErrors: true }) as unknown;
  } catch (error) {
    const detail = error instanceof YAMLParseError ? error.message.split('\n')[0] : messageOf(error);
    throw new ThawError(`${file}: not valid YAML: ${detail}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ThawError(
      `${file}: received ${raw === null ? 'an empty document' : typeof raw}; expected a YAML mapping with name, data, model …`,
    );
  }
  return { file: path, data: raw as Record<string, unknown> };
}

/** Applies overrides (`path=value`, then `values` by dotted path) to a copy of a raw spec and validates it. */
export function resolveSpec(
  raw: RawSpec,
  shownAs: string,
  overrides: readonly string[] = [],
  values: Readonly<Record<string, unknown>> = {},
): LoadedSpec {
  const record = structuredClone(raw.data) as Record<string, unknown>;
  for (const assignment of overrides) applySetOverride(record, assignment);
  for (const [path, value] of Object.entries(values)) setSpecValue(record, path, value);
  return { file: raw.file, dir: dirname(raw.file), spec: validateSpec(record, shownAs) };
}

/** Validates a raw spec object; `where` names it in errors. */
export function validateSpec(raw: unknown, where: string): ExperimentSpec {
  const result = ExperimentSpecSchema.safeParse(raw);
  if (result.success) return result.data;
  const lines = formatSchemaIssues(result.error, raw, '', (path) => allowedKeysAt(ExperimentSpecSchema, path));
  throw new ThawError(`${where}: invalid spec\n  ${lines.join('\n  ')}`);
}

/** The keys an object schema allows at a path, for "did you mean" hints. */
function allowedKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let current: z.ZodType | undefined = schema;
  for (const key of path) {
    current = unwrap(current);
    if (current instanceof z.ZodObject) current = (current.shape as Record<string, z.ZodType>)[String(key)];
    else if (current instanceof z.ZodArray) current = current.element as z.ZodType;
    else return undefined;
    if (current === undefined) return undefined;
  }
  current = unwrap(current);
  return current instanceof z.ZodObject ? Object.keys(current.shape) : undefined;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  while (current instanceof z.ZodDefault || current instanceof z.ZodOptional || current instanceof z.ZodPrefault) {
    current = current.unwrap() as z.ZodType;
  }
  return current;
}

/** The resolved spec as YAML: what is recorded with every run. */
export function specToYaml(spec: ExperimentSpec): string {
  return stringify(spec, { lineWidth: 0 });
}

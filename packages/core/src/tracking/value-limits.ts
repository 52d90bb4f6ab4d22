/** Values a real MLflow server would silently truncate (answering 200): longer params and tags. */
export const MAX_VALUE_LENGTH = { param: 6000, tag: 8000 } as const;

/** Where the whole of an over-long value goes, as an artifact of the run. */
export function fullValueArtifact(kind: 'param' | 'tag', key: string): string {
  return `thaw-full-values/${kind}s/${key}.txt`;
}

export interface FittedValues {
  readonly values: Record<string, string>;
  /** Artifacts holding the whole of each shortened value. */
  readonly overflow: { readonly path: string; readonly content: string }[];
}

/**
 * Values within MLflow's limits: one that is too long is logged shortened, with a note that says
 * so and where its whole text is, and the whole text is kept as an artifact — never cut silently.
 */
export function fitValues(kind: 'param' | 'tag', values: Readonly<Record<string, string>>): FittedValues {
  const max = MAX_VALUE_LENGTH[kind];
  const fitted: Record<string, string> = {};
  const overflow: { path: string; content: string }[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (value.length <= max) {
      fitted[key] = value;
      continue;
    }
    const path = fullValueArtifact(kind, key);
    const note = ` … [shortened from ${value.length} characters; the whole value is in artifact ${path}]`;
    fitted[key] = value.slice(0, max - note.length) + note;
    overflow.push({ path, content: value });
  }
  return { values: fitted, overflow };
}

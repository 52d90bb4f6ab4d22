import type { DatasetSplits } from '@thaw/contracts';

/** Frees the tensors of a dataset's three splits. */
export function disposeSplits(data: DatasetSplits | undefined): void {
  if (!data) return;
  for (const split of [data.train, data.validation, data.test]) split.dispose();
}

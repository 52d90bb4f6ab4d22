import type { CommandModule } from 'yargs';
import { RestTracker, ThawError, consoleLogger, createTracker, textTable, type RunSyncReport } from '@thaw/core';

interface SyncArgs {
  trackingUri?: string;
  store: string;
  dryRun: boolean;
}

/** `thaw sync`: sends the runs (or the parts of runs) that a tracking server missed, from the local copy. */
export const syncCommand: CommandModule<object, SyncArgs> = {
  command: 'sync',
  describe: 'send to the MLflow server what it missed while it was away (kept in the local store)',
  builder: (yargs) =>
    yargs
      .option('trackingUri', { type: 'string', describe: 'the MLflow tracking server (default: MLFLOW_TRACKING_URI)' })
      .option('store', { type: 'string', default: 'mlruns', describe: 'the local store that holds the copies' })
      .option('dryRun', { type: 'boolean', default: false, describe: 'print what would be sent, send nothing' }),
  handler: async (args) => {
    const tracker = createTracker({ uri: args.trackingUri, store: args.store, logger: consoleLogger });
    if (!(tracker instanceof RestTracker)) {
      throw new ThawError('thaw sync: no MLflow tracking server is set; expected MLFLOW_TRACKING_URI=http(s)://… or --trackingUri');
    }
    const reports = await tracker.sync.syncPending(args.dryRun, (report: RunSyncReport) => {
      const parts = [
        report.createdRun ? 'new run' : undefined,
        `${report.params} params`,
        `${report.tags} tags`,
        `${report.metricPoints} metric points`,
        `${report.artifacts} artifacts`,
        report.status ? `status ${report.status}` : undefined,
      ].filter(Boolean);
      consoleLogger.info(`${args.dryRun ? 'would send' : 'sent'} ${report.runName} (${report.localRunId}): ${parts.join(', ')}`);
    });
    if (reports.length === 0) {
      process.stdout.write(`nothing to send: every run in ${args.store} is on ${tracker.client.url}\n`);
      return;
    }
    const rows = [
      ['run', 'local id', 'server id', 'params', 'tags', 'metric points', 'artifacts', 'status'],
      ...reports.map((r) => [
        r.runName,
        r.localRunId,
        r.remoteRunId ?? '(new)',
        String(r.params),
        String(r.tags),
        String(r.metricPoints),
        String(r.artifacts),
        r.status ?? '',
      ]),
    ];
    process.stdout.write(`${args.dryRun ? 'would send' : 'sent'} to ${tracker.client.url}:\n${textTable(rows)}\n`);
  },
};

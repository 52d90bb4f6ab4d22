import { readFileSync, statfsSync } from 'node:fs';
import { cpus, totalmem, freemem } from 'node:os';
import { messageOf, type Logger, type MetricPoint, type TrackedRun } from '@thaw/contracts';

/** Seconds between samples: MLflow's MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL (default 10). */
export function systemMetricsIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const seconds = Number(env['MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL'] ?? 10);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 10_000;
}

interface CpuTimes {
  readonly idle: number;
  readonly total: number;
}

function cpuTimes(): CpuTimes {
  let idle = 0;
  let total = 0;
  for (const { times } of cpus()) {
    idle += times.idle;
    total += times.user + times.nice + times.sys + times.irq + times.idle;
  }
  return { idle, total };
}

/** Bytes received and sent by every interface (Linux); undefined elsewhere. */
function networkBytes(): { received: number; sent: number } | undefined {
  try {
    let received = 0;
    let sent = 0;
    for (const line of readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2)) {
      const fields = line
        .slice(line.indexOf(':') + 1)
        .trim()
        .split(/\s+/);
      if (fields.length < 9) continue;
      received += Number(fields[0]);
      sent += Number(fields[8]);
    }
    return { received, sent };
  } catch {
    return undefined;
  }
}

/** Memory in use as psutil counts it: total less what is available to new processes. */
function memoryUsed(): number {
  try {
    const available = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (available) return totalmem() - Number(available[1]) * 1024;
  } catch {
    // not Linux
  }
  return totalmem() - freemem();
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/**
 * Samples the machine while a trial trains and logs it under MLflow's `system/` keys (the names,
 * units and rounding of MLflow's own system-metrics monitor), so the run page's System metrics
 * tab shows it: CPU and memory use, the root disk, network traffic since the trial began. A
 * sample that fails to send is told once; the trial goes on.
 */
export function sampleSystemMetrics(run: TrackedRun, log: Logger, every = systemMetricsIntervalMs()): () => void {
  let cpu = cpuTimes();
  const network = networkBytes();
  let step = 0;
  let told = false;
  const sample = (): MetricPoint[] => {
    const timestamp = Date.now();
    const now = cpuTimes();
    const busy = now.total > cpu.total ? 100 * (1 - (now.idle - cpu.idle) / (now.total - cpu.total)) : 0;
    cpu = now;
    const used = memoryUsed();
    const disk = statfsSync('/');
    const diskUsed = (disk.blocks - disk.bfree) * disk.bsize;
    const diskAvailable = disk.bavail * disk.bsize;
    const values: [string, number][] = [
      ['cpu_utilization_percentage', busy],
      ['system_memory_usage_megabytes', used / 1e6],
      ['system_memory_usage_percentage', (100 * used) / totalmem()],
      ['disk_usage_percentage', (100 * diskUsed) / (diskUsed + diskAvailable)],
      ['disk_usage_megabytes', diskUsed / 1e6],
      ['disk_available_megabytes', diskAvailable / 1e6],
    ];
    const traffic = networkBytes();
    if (network && traffic) {
      values.push(['network_receive_megabytes', (traffic.received - network.received) / 1e6]);
      values.push(['network_transmit_megabytes', (traffic.sent - network.sent) / 1e6]);
    }
    const points = values.map(([key, value]) => ({ key: `system/${key}`, value: round1(value), step, timestamp }));
    step++;
    return points;
  };
  const timer = setInterval(() => {
    run.logMetrics(sample()).catch((error: unknown) => {
      if (!told) log.warn(`system metrics of run ${run.runId}: ${messageOf(error)}`);
      told = true;
    });
  }, every);
  timer.unref();
  return () => clearInterval(timer);
}

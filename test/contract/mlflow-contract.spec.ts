import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { MlflowDouble } from '../helpers/mlflow-double.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

/**
 * Replays every request recorded from a real MLflow server (test/fixtures/mlflow-contract, a
 * copy of shared/mlflow-contract) against the test double, and expects the recorded answer:
 * status, error code, message, body. Server-made values (ids, clocks, generated run names) are
 * matched by what they are, not by value.
 */

interface Entry {
  readonly log: string;
  readonly method: string;
  readonly path: string;
  readonly request: string | undefined;
  readonly status: number;
  readonly response: string;
}

const contractDir = join(REPO_ROOT, 'test', 'fixtures', 'mlflow-contract');

function parseLog(file: string): Entry[] {
  const text = readFileSync(join(contractDir, file), 'utf8');
  return text
    .split(/^### /m)
    .slice(1)
    .map((block) => {
      const lines = block.split('\n');
      const [method, path] = lines[0]!.split(' ') as [string, string];
      const requestLine = lines.find((line) => line.startsWith('REQ: '));
      const statusIndex = lines.findIndex((line) => line.startsWith('HTTP '));
      const response = lines
        .slice(statusIndex + 1)
        .join('\n')
        .replace(/^RESP: /, '')
        .replace(/\n+$/, '');
      return {
        log: file,
        method,
        path,
        request: requestLine?.slice(5),
        status: Number(lines[statusIndex]!.slice(5)),
        response,
      };
    });
}

/** Python's json.dumps layout, as the recorder wrote the long requests. */
function pyJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([key, item]) => `${JSON.stringify(key)}: ${pyJson(item)}`)
      .join(', ')}}`;
  }
  return typeof value === 'string' ? JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => c) : JSON.stringify(value);
}

const EDGE_RUN = '9d32205cbb704952845a84501ccdd40f';
const T = 1795812520686;
const range = (n: number) => [...Array(n).keys()];
/** The recorded requests that the logs shortened, rebuilt from their case names (edge-table.md). */
const LONG_REQUESTS: string[] = [
  pyJson({ run_id: EDGE_RUN, metrics: range(1001).map((i) => ({ key: `m${i}`, value: i, timestamp: T, step: 0 })) }),
  pyJson({ run_id: EDGE_RUN, metrics: range(1000).map((i) => ({ key: 'bulk', value: i, timestamp: T, step: i })) }),
  pyJson({ run_id: EDGE_RUN, params: range(101).map((i) => ({ key: `p${i}`, value: 'x' })) }),
  pyJson({ run_id: EDGE_RUN, params: range(100).map((i) => ({ key: `p${i}`, value: 'x' })) }),
  pyJson({ run_id: EDGE_RUN, tags: range(101).map((i) => ({ key: `t${i}`, value: 'x' })) }),
  pyJson({
    run_id: EDGE_RUN,
    metrics: range(900).map((i) => ({ key: `mm${i}`, value: i, timestamp: T, step: 0 })),
    params: range(100).map((i) => ({ key: `p${i}`, value: 'x' })),
    tags: range(100).map((i) => ({ key: `t${i}`, value: 'x' })),
  }),
  pyJson({ run_id: EDGE_RUN, key: 'v6000', value: 'x'.repeat(6000) }),
  pyJson({ run_id: EDGE_RUN, key: 'v6001', value: 'x'.repeat(6001) }),
  pyJson({ run_id: EDGE_RUN, key: 'v8001', value: 'x'.repeat(8001) }),
  pyJson({ run_id: EDGE_RUN, params: [{ key: 'bv6001', value: 'x'.repeat(6001) }] }),
  pyJson({ run_id: EDGE_RUN, key: 'v6000u', value: 'é'.repeat(6000) }),
  pyJson({ run_id: EDGE_RUN, key: 't8000', value: 'x'.repeat(8000) }),
  pyJson({ run_id: EDGE_RUN, key: 't8001', value: 'x'.repeat(8001) }),
  pyJson({ run_id: EDGE_RUN, tags: [{ key: 'bt8001', value: 'x'.repeat(8001) }] }),
];

const RUN_ID = /\b[0-9a-f]{32}\b/g;
const NO_SUCH_RUN = '0123456789abcdef0123456789abcdef';

/** Values a server makes up itself, replaced by what they are. */
function normalize(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((item) => normalize(item));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v, k)]));
  }
  if (key === 'creation_time' || key === 'last_update_time') return '<server clock>';
  if (typeof value === 'string') {
    if (/^[a-z]+-[a-z]+-\d{1,3}$/.test(value)) return '<generated name>';
    return value
      .replace(/'[a-z]+-[a-z]+-\d{1,3}'/g, "'<generated name>'")
      .replace(/\b1\d{12}\b/g, '<ms>')
      .replace(/\bmlflow-artifacts:\/0\/[0-9a-f]{32}\b/g, 'mlflow-artifacts:/0/<new run>')
      .replace(/\('[0-9a-f]{32}'/g, "('<new run>'");
  }
  return value;
}

function parseAnswer(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // The logs keep no trailing whitespace.
    return text.trimEnd();
  }
}

describe('MLflow contract: the test double answers as the recorded server', function () {
  this.timeout(60_000);
  const double = new MlflowDouble();
  let url = '';
  before(async () => {
    url = await double.start();
  });
  after(() => double.stop());

  it('rebuilds each shortened request to the recorded length and beginning', () => {
    const shortened = parseLog('edge-log.md').filter((entry) => /\.\.\.\(\d+ chars\)$/.test(entry.request ?? ''));
    expect(shortened).to.have.length(LONG_REQUESTS.length);
    shortened.forEach((entry, index) => {
      const [, prefix, length] = /^(.*)\.\.\.\((\d+) chars\)$/s.exec(entry.request!)!;
      const rebuilt = LONG_REQUESTS[index]!;
      expect(rebuilt.length, `${entry.path} #${index}`).to.equal(Number(length));
      expect(rebuilt.startsWith(prefix!), `${entry.path} #${index}`).to.equal(true);
    });
  });

  it('answers every recorded request of rest-log.md and edge-log.md as recorded', async () => {
    const toActual = new Map<string, string>([[NO_SUCH_RUN, NO_SUCH_RUN]]);
    const rest = parseLog('rest-log.md');
    const edge = parseLog('edge-log.md');
    // rest-log.md's last calls went to runs that edge-log.md creates: replay them after it.
    const knows = (entry: Entry) => [...`${entry.path} ${entry.request ?? ''}`.matchAll(RUN_ID)].every(([id]) => toActual.has(id));
    const deferred: Entry[] = [];
    let longIndex = 0;
    const failures: string[] = [];
    let replayed = 0;

    const replay = async (entry: Entry) => {
      let request = entry.request;
      if (request !== undefined && /\.\.\.\(\d+ chars\)$/.test(request)) request = LONG_REQUESTS[longIndex++]!;
      const substitute = (text: string) => text.replace(RUN_ID, (id) => toActual.get(id) ?? id);
      const response = await fetch(`${url}${substitute(entry.path)}`, {
        method: entry.method,
        headers: { 'content-type': 'application/json' },
        ...(request === undefined ? {} : { body: substitute(request) }),
      });
      let text = await response.text();
      const created =
        entry.path.endsWith('runs/create') && response.ok ? (JSON.parse(text) as { run: { info: { run_id: string } } }) : undefined;
      const recorded = parseAnswer(entry.response) as { run?: { info: { run_id: string } } };
      if (created && recorded.run) toActual.set(recorded.run.info.run_id, created.run.info.run_id);
      for (const [recordedId, actualId] of toActual) text = text.replaceAll(actualId, recordedId);
      replayed++;
      const label = `${entry.log}: ${entry.method} ${entry.path} ${(entry.request ?? '').slice(0, 80)}`;
      if (response.status !== entry.status) {
        failures.push(`${label}\n  status ${response.status}, recorded ${entry.status}`);
        return;
      }
      const actual = normalize(parseAnswer(text));
      const expected = normalize(recorded);
      try {
        expect(actual).to.deep.equal(expected);
      } catch {
        failures.push(`${label}\n  answered ${JSON.stringify(actual).slice(0, 400)}\n  recorded ${JSON.stringify(expected).slice(0, 400)}`);
      }
    };

    for (const entry of rest) {
      if (knows(entry)) await replay(entry);
      else deferred.push(entry);
    }
    for (const entry of edge) await replay(entry);
    for (const entry of deferred) await replay(entry);
    expect(replayed).to.equal(rest.length + edge.length);
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });

  it('refuses a request without a JSON content type, a foreign Host or Origin', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${url}/api/2.0/mlflow/experiments/create`, { method: 'POST', headers, body: JSON.stringify({ name: 'x-ctype' }) });
    expect((await post({})).status).to.equal(400);
    expect((await post({ 'content-type': 'application/json', origin: 'http://evil.example' })).status).to.equal(403);
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const port = new URL(url).port;
      const req = request(
        { host: '127.0.0.1', port, path: '/api/2.0/mlflow/experiments/get?experiment_id=0', headers: { host: 'evil.example' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).to.equal(403);
  });
});

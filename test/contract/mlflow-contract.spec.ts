import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { pyFloat, pytext } from '../helpers/mlflow-double-common.js';
import { MlflowDouble } from '../helpers/mlflow-double.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

/**
 * Replays every request recorded from a real MLflow server (test/fixtures/mlflow-contract, a
 * copy of shared/mlflow-contract) against the test double, and expects the recorded answer:
 * status, error code, message, body (its field order too). Server-made values (ids, clocks,
 * generated names) are matched by what they are, not by value.
 */

interface Entry {
  readonly log: string;
  /** The step of the scenario (models-log.md's `> 2a.` lines), '' where a log has none. */
  readonly step: string;
  readonly method: string;
  readonly path: string;
  /** The request body as recorded: one line of JSON, or an uploaded file's text (several lines). */
  readonly request: string | undefined;
  readonly status: number;
  readonly response: string;
}

const contractDir = join(REPO_ROOT, 'test', 'fixtures', 'mlflow-contract');

function parseLog(file: string): Entry[] {
  const lines = readFileSync(join(contractDir, file), 'utf8').split('\n');
  const entries: Entry[] = [];
  let step = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('> ')) step = /^> (\d+[a-z]?(?: \([a-z]+\))?)\. /.exec(line)?.[1] ?? step;
    if (!line.startsWith('### ')) continue;
    const [method, path] = line.slice(4).split(' ') as [string, string];
    const statusIndex = lines.findIndex((candidate, index) => index > i && candidate.startsWith('HTTP '));
    const requestIndex = lines.findIndex((candidate, index) => index > i && index < statusIndex && candidate.startsWith('REQ: '));
    // The answer runs to the next exchange, narrative line or heading.
    const end = lines.findIndex((candidate, index) => index > statusIndex && /^(### |> |## )/.test(candidate));
    entries.push({
      log: file,
      step,
      method,
      path,
      request: requestIndex < 0 ? undefined : lines.slice(requestIndex, statusIndex).join('\n').slice(5),
      status: Number(lines[statusIndex]!.slice(5)),
      response: lines
        .slice(statusIndex + 1, end < 0 ? undefined : end)
        .join('\n')
        .replace(/^RESP: /, '')
        .replace(/\n+$/, ''),
    });
  }
  return entries;
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

/** A 32-hex id (a run's, or the hex of a logged model's `m-<32 hex>`), wherever it stands (`4%2F<run>` too). */
const ID = /(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])/g;
const NO_SUCH_RUN = '0123456789abcdef0123456789abcdef';
/** Keys whose numbers are read off the server's clock. */
const CLOCKS = [
  'creation_time',
  'last_update_time',
  'creation_timestamp_ms',
  'last_updated_timestamp_ms',
  'creation_timestamp',
  'last_updated_timestamp',
];
const CLOCK_TEXT = new RegExp(`("(?:${CLOCKS.join('|')})": )\\d+`, 'g');

/** When the answers being checked were made: a clock of the double must fall in it. */
interface Window {
  readonly from: number;
}

/**
 * Values a server makes up itself, replaced by what they are: a server clock (an integer of
 * milliseconds; the double's within the replay), a generated adjective-animal-number name, a new
 * run's id inside a message. Ids of runs and logged models are mapped to the recorded ones before.
 */
function normalize(value: unknown, key = '', window?: Window): unknown {
  if (Array.isArray(value)) return value.map((item) => normalize(item, '', window));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v, k, window)]));
  }
  if (CLOCKS.includes(key)) {
    const clock =
      typeof value === 'number' &&
      Number.isInteger(value) &&
      (window ? value >= window.from && value <= Date.now() : String(value).length === 13);
    return clock ? '<server clock>' : `<not a server clock: ${JSON.stringify(value)}>`;
  }
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

/** Python's json.dumps(value, indent=2), as the recorder wrote the answers: metric values are floats (`1.0`). */
function pyDumps(value: unknown, indent = '', key = ''): string {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    return value.length ? `[\n${value.map((item) => inner + pyDumps(item, inner)).join(',\n')}\n${indent}]` : '[]';
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    return entries.length ? `{\n${entries.map(([k, v]) => `${inner}${pytext(k)}: ${pyDumps(v, inner, k)}`).join(',\n')}\n${indent}}` : '{}';
  }
  if (typeof value === 'number' && key === 'value') return pyFloat(value);
  return typeof value === 'string' ? pytext(value) : JSON.stringify(value);
}

/**
 * A file upload as the log shows it: its text, or `<binary, N bytes: what>`. The one binary
 * upload (a cloudpickled Python object) is recorded by its size only, and nothing reads its
 * bytes back (only the listing of its size): N bytes stand in for it.
 */
function upload(recorded: string): { bytes: Buffer; type: string } {
  const binary = /^<binary, (\d+) bytes: .*>$/.exec(recorded);
  if (binary) return { bytes: Buffer.alloc(Number(binary[1]), 0x80), type: 'application/octet-stream' };
  return { bytes: Buffer.from(recorded), type: 'text/plain' };
}

/** Replays recorded exchanges against the double, one by one, collecting what differs. */
class Replay {
  readonly failures: string[] = [];
  count = 0;
  /** A recorded id → the double's (runs, and the hex of logged models), learnt from what created them. */
  readonly ids = new Map<string, string>([[NO_SUCH_RUN, NO_SUCH_RUN]]);

  constructor(
    private readonly url: string,
    private readonly window: Window,
  ) {}

  private toDouble(text: string): string {
    return text.replace(ID, (id) => this.ids.get(id) ?? id);
  }

  private toRecorded(text: string): string {
    for (const [recorded, actual] of this.ids) text = text.replaceAll(actual, recorded);
    return text;
  }

  async run(entry: Entry, request = entry.request): Promise<void> {
    // An upload is sent as the raw bytes of the file; it names runs and models too.
    const file = entry.method === 'PUT' && request !== undefined ? upload(this.toDouble(request)) : undefined;
    const response = await fetch(`${this.url}${this.toDouble(entry.path)}`, {
      method: entry.method,
      headers: { 'content-type': file ? file.type : 'application/json' },
      ...(file ? { body: file.bytes } : request === undefined ? {} : { body: this.toDouble(request) }),
    });
    const text = await response.text();
    if (response.ok) this.learnIds(entry, text);
    const answer = this.toRecorded(text);
    this.count++;
    const label = `${entry.log}${entry.step ? ` ${entry.step}` : ''}: ${entry.method} ${entry.path} ${(request ?? '').slice(0, 80)}`;
    if (response.status !== entry.status) {
      this.failures.push(`${label}\n  status ${response.status}, recorded ${entry.status}: ${answer.slice(0, 300)}`);
      return;
    }
    const shortened = /^(.*)\.\.\.\((\d+) chars\)$/s.exec(entry.response);
    if (shortened) {
      this.compareShortened(label, answer, shortened[1]!, Number(shortened[2]));
      return;
    }
    // Field order counts: the comparison is of the normalized JSON text.
    const actual = JSON.stringify(normalize(parseAnswer(answer), '', this.window));
    const expected = JSON.stringify(normalize(parseAnswer(entry.response)));
    if (actual !== expected) this.failures.push(`${label}\n  answered ${actual.slice(0, 600)}\n  recorded ${expected.slice(0, 600)}`);
  }

  /** Ids the double made for what the recording created: runs, and logged models (by their hex). */
  private learnIds(entry: Entry, text: string): void {
    const recorded = parseAnswer(entry.response) as { run?: { info: { run_id: string } }; model?: { info: { model_id: string } } };
    if (entry.path.endsWith('/runs/create') && recorded.run) {
      this.ids.set(recorded.run.info.run_id, (JSON.parse(text) as typeof recorded).run!.info.run_id);
    }
    if (entry.method === 'POST' && entry.path.endsWith('/logged-models') && recorded.model) {
      this.ids.set(recorded.model.info.model_id.slice(2), (JSON.parse(text) as typeof recorded).model!.info.model_id.slice(2));
    }
  }

  /**
   * An answer the log shortened (`<first 2,000 characters>...(N chars)`, N the length of the whole
   * text): the double's answer, written as the recorder wrote answers, must have that length and
   * begin with those characters (clocks read as clocks); its clocks are checked as in full answers.
   */
  private compareShortened(label: string, answer: string, prefix: string, length: number): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer);
    } catch {
      this.failures.push(`${label}\n  answered no JSON: ${answer.slice(0, 300)}`);
      return;
    }
    const text = pyDumps(parsed);
    const mask = (t: string) => t.replace(CLOCK_TEXT, '$1<clock>');
    if (text.length !== length || !mask(text).startsWith(mask(prefix))) {
      const at = [...mask(prefix)].findIndex((c, index) => c !== mask(text)[index]);
      this.failures.push(
        `${label}\n  answered ${text.length} chars, recorded ${length}; first difference at ${at}: ${JSON.stringify(mask(text).slice(Math.max(0, at - 80), at + 80))}\n  recorded ${JSON.stringify(mask(prefix).slice(Math.max(0, at - 80), at + 80))}`,
      );
    }
    const clock = /<not a server clock[^>]*>/.exec(JSON.stringify(normalize(parsed, '', this.window)));
    if (clock) this.failures.push(`${label}\n  ${clock[0]}`);
  }
}

/** The process started when this file was loaded, before any double it makes. */
const LOADED = Date.now();

describe('MLflow contract: the test double answers as the recorded server', function () {
  this.timeout(60_000);
  // rest-log.md and edge-log.md come from a server build that wrote errors without sqlstate and
  // error_class (and ran SQLAlchemy 1.4); models-log.md from one that writes them.
  const double = new MlflowDouble({ build: 'rest-log' });
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
    const replay = new Replay(url, { from: LOADED });
    const rest = parseLog('rest-log.md');
    const edge = parseLog('edge-log.md');
    // rest-log.md's last calls went to runs that edge-log.md creates: replay them after it.
    const knows = (entry: Entry) => [...`${entry.path} ${entry.request ?? ''}`.matchAll(ID)].every(([id]) => replay.ids.has(id));
    const deferred: Entry[] = [];
    let longIndex = 0;
    const run = (entry: Entry) =>
      replay.run(entry, /\.\.\.\(\d+ chars\)$/.test(entry.request ?? '') ? LONG_REQUESTS[longIndex++]! : entry.request);

    for (const entry of rest) {
      if (knows(entry)) await run(entry);
      else deferred.push(entry);
    }
    for (const entry of edge) await run(entry);
    for (const entry of deferred) await run(entry);
    expect(replay.count).to.equal(rest.length + edge.length);
    expect(replay.failures, replay.failures.join('\n')).to.deep.equal([]);
  });

  it('answers every recorded request of models-log.md as recorded', async () => {
    const from = Date.now();
    const models = new MlflowDouble();
    const modelsUrl = await models.start();
    try {
      // The recorded server held experiments 0 to 3 already (1 made in rest-log.md, 2 and 3
      // unrecorded), so the experiment models-log.md creates got the next id, 4. The double is
      // brought to the same point through its API, and then has to answer 4 itself.
      for (const id of ['1', '2', '3']) {
        const created = await fetch(`${modelsUrl}/api/2.0/mlflow/experiments/create`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: `held-before-models-log-${id}` }),
        });
        expect(await created.json()).to.deep.equal({ experiment_id: id });
      }
      const entries = parseLog('models-log.md');
      expect(entries).to.have.length(readFileSync(join(contractDir, 'models-log.md'), 'utf8').match(/^### /gm)!.length);
      // The log groups exchanges by scenario, but (as its header says) steps 1c, 2g to 2j and 3i
      // were recorded after scenario 5, in that order (their clocks rise in it: 2h's run starts
      // after scenario 5's, 3i's registered model is made after 2j's last model). They are
      // replayed when they happened, on the state the server had then.
      const later = (entry: Entry) => /^(1c|2g|2h|2i|2j|3i)\b/.test(entry.step);
      const replay = new Replay(modelsUrl, { from });
      for (const entry of [...entries.filter((entry) => !later(entry)), ...entries.filter(later)]) await replay.run(entry);
      expect(replay.count).to.equal(entries.length);
      expect(replay.failures, replay.failures.join('\n')).to.deep.equal([]);

      // What the helpers for client tests read from the state the replay left.
      const id = (recorded: string) => replay.ids.get(recorded)!;
      const model = `m-${id('992bbc56b8974f46a87ce4917e32efa1')}`;
      const manual = `m-${id('b7d4b73cd3714be2a50e15c836d7c465')}`;
      const run = id('f9c7e941ae22466ba3238f5d1e529375');
      expect(models.loggedModelsOf('contract-models').map((m) => m.info.name)).to.deep.equal(['rest-model', 'manual-model', 'model']);
      expect(models.loggedModel(model)?.info.status).to.equal('LOGGED_MODEL_READY');
      expect(models.loggedModel(`m-${id('459daf06069f4bf1acdc8a298c1bab2a')}`)).to.equal(undefined);
      expect([...models.modelArtifactsOf(model).keys()].sort())
        .to.have.length(7)
        .and.include('MLmodel');
      const registered = models.registeredModel('thaw-demo')!;
      expect(registered.versions.map((v) => [v.version, v.aliases, v.tags])).to.deep.equal([
        ['1', ['champion'], [{ key: 'validated', value: 'true' }]],
        ['2', [], []],
        ['3', [], []],
      ]);
      expect(registered.aliases).to.deep.equal({ champion: '1' });
      expect(registered.versions[0]!.storage_location).to.equal(`mlflow-artifacts:/4/models/${model}/artifacts`);
      const inputs = models.runInputs(run)!;
      expect(inputs.datasets.map((d) => [d.dataset.name, d.tags.find((t) => t.key === 'mlflow.data.context')?.value])).to.deep.equal([
        ['train', 'training'],
        ['val', 'validation'],
      ]);
      expect(inputs.models).to.deep.equal([model, manual]);
      expect(models.runOutputs(run)).to.deep.equal([{ model_id: model, step: 3 }]);
    } finally {
      await models.stop();
    }
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

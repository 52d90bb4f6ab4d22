import {
  ApiError,
  asText,
  byKey,
  FileAnswer,
  keyValues,
  missing,
  notFound,
  pyJson,
  tokenOffset,
  upsert,
  type DoubleContext,
  type Json,
  type ModelVersion,
  type RegisteredModel,
  type Route,
} from './mlflow-double-common.js';
import type { LoggedModels } from './mlflow-double-models.js';

/**
 * The model registry in the test double, as models-log.md recorded it: registered models,
 * versions (numbered per model, READY at once, a `models:/<model_id>` source resolved to the
 * logged model), tags, aliases, the `mlflow.modelVersions` tag written on the logged model, and
 * the endpoints that serve a version's files.
 */

const MODEL_VERSIONS_TAG = 'mlflow.modelVersions';

const versionNotFound = (name: string, version: string) => notFound(`Model Version (name=${name}, version=${version}) not found`);
const modelNotFound = (name: string) => notFound(`Registered Model with name=${name} not found`);

/** A query or body value that must be there. */
function required(body: Json, name: string): string {
  const value = asText(body[name]);
  if (value === '') throw missing(name);
  return value;
}

export class ModelRegistry {
  constructor(
    private readonly context: DoubleContext,
    private readonly loggedModels: LoggedModels,
  ) {}

  /** The registered model, or 404. */
  get(name: string): RegisteredModel {
    const model = this.context.state.registeredModels.get(name);
    if (!model) throw modelNotFound(name);
    return model;
  }

  /** The version, or 404 (also when the registered model is unknown). */
  version(name: string, version: string): ModelVersion {
    const found = this.context.state.registeredModels.get(name)?.versions.find((v) => v.version === version);
    if (!found) throw versionNotFound(name, version);
    return found;
  }

  /** A version as the API answers it; `aliases` only where the endpoint gives them (not in search). */
  versionJson(version: ModelVersion, withAliases: boolean): Json {
    const { tags, run_link: runLink, storage_location: _, ...rest } = version;
    const aliases = withAliases ? this.aliasesOf(version) : [];
    return { ...rest, ...(tags.length ? { tags: byKey(tags) } : {}), run_link: runLink, ...(aliases.length ? { aliases } : {}) };
  }

  /** The aliases that point at the version, sorted. */
  aliasesOf(version: ModelVersion): string[] {
    const model = this.context.state.registeredModels.get(version.name);
    return [...(model?.aliases ?? [])]
      .filter(([, v]) => v === version.version)
      .map(([alias]) => alias)
      .sort();
  }

  /** The newest version of each stage. */
  private latest(model: RegisteredModel): ModelVersion[] {
    const byStage = new Map<string, ModelVersion>();
    for (const version of model.versions) {
      const previous = byStage.get(version.current_stage);
      if (!previous || Number(version.version) > Number(previous.version)) byStage.set(version.current_stage, version);
    }
    return [...byStage.values()];
  }

  registeredModelJson(model: RegisteredModel, full: boolean): Json {
    const latest = full ? this.latest(model) : [];
    const aliases = full ? [...model.aliases].sort(([a], [b]) => (a < b ? -1 : 1)).map(([alias, version]) => ({ alias, version })) : [];
    return {
      name: model.name,
      creation_timestamp: model.creation_timestamp,
      last_updated_timestamp: model.last_updated_timestamp,
      ...(model.description ? { description: model.description } : {}),
      ...(latest.length ? { latest_versions: latest.map((v) => this.versionJson(v, false)) } : {}),
      ...(model.tags.length ? { tags: byKey(model.tags) } : {}),
      ...(aliases.length ? { aliases } : {}),
    };
  }

  /**
   * Where a version's files are, from its source. `models:/<model_id>` is the logged model (500
   * when there is none, as the server answers), `models:/<name>/<version>` and
   * `models:/<name>@<alias>` a registered version; a local path is refused; any other URI is
   * taken as it is, unchecked.
   */
  private resolve(source: string): { location: string; runId: string } {
    const scheme = /^([a-zA-Z][\w+.-]*):/.exec(source)?.[1]?.toLowerCase();
    if (scheme === undefined || scheme === 'file' || scheme.length === 1) {
      throw new ApiError(
        400,
        'INVALID_PARAMETER_VALUE',
        `Invalid model version source: '${source}'. To use a local path as a model version source, the run_id request parameter has to be specified and the local path has to be contained within the artifact directory of the run specified by the run_id.`,
      );
    }
    if (scheme !== 'models') return { location: source, runId: '' };
    const path = source.replace(/^models:\/+/i, '');
    try {
      const [, name, version] = /^([^/]+)\/([^/]+)$/.exec(path) ?? [];
      if (name !== undefined && version !== undefined) return { location: this.version(name, version).storage_location, runId: '' };
      const [, aliasOf, alias] = /^([^/@]+)@([^/]+)$/.exec(path) ?? [];
      if (aliasOf !== undefined && alias !== undefined) {
        const number = this.get(aliasOf).aliases.get(alias);
        if (number === undefined) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Registered model alias ${alias} not found.`);
        return { location: this.version(aliasOf, number).storage_location, runId: '' };
      }
      const model = this.loggedModels.get(path);
      return { location: model.info.artifact_uri, runId: model.info.source_run_id };
    } catch (error) {
      throw new ApiError(
        500,
        'INTERNAL_ERROR',
        `Unable to fetch model from model URI source artifact location '${source}'.Error: ${(error as Error).message}`,
      );
    }
  }

  /** Appends the version to the logged model's `mlflow.modelVersions` tag (a JSON list), as the server does when given `model_id`. */
  private linkToLoggedModel(modelId: string, version: ModelVersion): void {
    const model = this.context.state.loggedModels.get(modelId);
    if (!model || model.deleted) return;
    const current = model.tags.find((tag) => tag.key === MODEL_VERSIONS_TAG)?.value;
    let list: unknown[] = [];
    try {
      const parsed: unknown = JSON.parse(current ?? '[]');
      if (Array.isArray(parsed)) list = parsed;
    } catch {
      // A value that is no JSON list starts again.
    }
    list.push({ name: version.name, version: Number(version.version) });
    upsert(model.tags, MODEL_VERSIONS_TAG, pyJson(list));
  }

  readonly routes: Route[] = [
    {
      method: 'POST',
      path: /^registered-models\/create$/,
      handler: (body) => {
        const name = required(body, 'name');
        if (this.context.state.registeredModels.has(name)) {
          throw new ApiError(400, 'RESOURCE_ALREADY_EXISTS', `Registered Model (name=${name}) already exists.`);
        }
        const now = Date.now();
        const model: RegisteredModel = {
          name,
          creation_timestamp: now,
          last_updated_timestamp: now,
          description: asText(body['description']),
          tags: keyValues(body['tags']),
          aliases: new Map(),
          versions: [],
        };
        this.context.state.registeredModels.set(name, model);
        return { registered_model: this.registeredModelJson(model, false) };
      },
    },
    {
      method: 'GET',
      path: /^registered-models\/get$/,
      handler: (query) => ({ registered_model: this.registeredModelJson(this.get(required(query, 'name')), true) }),
    },
    {
      method: 'POST',
      path: /^registered-models\/get-latest-versions$/,
      handler: (body) => {
        const model = this.get(required(body, 'name'));
        const stages = ((body['stages'] as unknown[] | undefined) ?? []).map((stage) => asText(stage).toLowerCase());
        const versions = this.latest(model).filter((v) => stages.length === 0 || stages.includes(v.current_stage.toLowerCase()));
        return versions.length ? { model_versions: versions.map((v) => this.versionJson(v, false)) } : {};
      },
    },
    {
      method: 'POST',
      path: /^registered-models\/alias$/,
      handler: (body) => {
        const name = required(body, 'name');
        const alias = required(body, 'alias');
        const version = required(body, 'version');
        if (alias.toLowerCase() === 'latest') {
          throw new ApiError(400, 'INVALID_PARAMETER_VALUE', "'latest' alias name (case insensitive) is reserved.");
        }
        if (/^v\d+$/i.test(alias)) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Version alias name '${alias}' is reserved.`);
        this.version(name, version);
        this.get(name).aliases.set(alias, version);
        return {};
      },
    },
    {
      method: 'GET',
      path: /^registered-models\/alias$/,
      handler: (query) => {
        const name = required(query, 'name');
        const alias = required(query, 'alias');
        const version = this.context.state.registeredModels.get(name)?.aliases.get(alias);
        if (version === undefined) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Registered model alias ${alias} not found.`);
        return { model_version: this.versionJson(this.version(name, version), true) };
      },
    },
    {
      method: 'POST',
      path: /^model-versions\/create$/,
      handler: (body) => {
        const name = required(body, 'name');
        const source = required(body, 'source');
        const { location, runId } = this.resolve(source);
        const model = this.get(name);
        const now = Date.now();
        const version: ModelVersion = {
          name,
          version: String(Math.max(0, ...model.versions.map((v) => Number(v.version))) + 1),
          creation_timestamp: now,
          last_updated_timestamp: now,
          current_stage: 'None',
          description: asText(body['description']),
          source,
          run_id: asText(body['run_id']) || runId,
          status: 'READY',
          tags: keyValues(body['tags']),
          run_link: asText(body['run_link']),
          storage_location: location,
        };
        model.versions.push(version);
        model.last_updated_timestamp = now;
        if (asText(body['model_id']) !== '') this.linkToLoggedModel(asText(body['model_id']), version);
        return { model_version: this.versionJson(version, false) };
      },
    },
    {
      method: 'GET',
      path: /^model-versions\/get$/,
      handler: (query) => ({ model_version: this.versionJson(this.version(required(query, 'name'), required(query, 'version')), true) }),
    },
    {
      method: 'POST',
      path: /^model-versions\/set-tag$/,
      handler: (body) => {
        const version = this.version(required(body, 'name'), required(body, 'version'));
        upsert(version.tags, required(body, 'key'), asText(body['value']));
        return {};
      },
    },
    {
      method: 'GET',
      path: /^model-versions\/search$/,
      handler: (query) => {
        const clauses =
          asText(query['filter']).trim() === ''
            ? []
            : asText(query['filter'])
                .split(/\s+AND\s+/i)
                .map(versionClause);
        const max = query['max_results'] === undefined ? 10000 : Number(query['max_results']);
        const offset = tokenOffset(query['page_token']);
        const versions = [...this.context.state.registeredModels.values()]
          .flatMap((model) => model.versions)
          .filter((version) => clauses.every((clause) => clause(version)))
          // Newest first.
          .sort(
            (a, b) =>
              b.last_updated_timestamp - a.last_updated_timestamp ||
              (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
              Number(b.version) - Number(a.version),
          );
        const page = versions.slice(offset, offset + max);
        return {
          ...(page.length ? { model_versions: page.map((v) => this.versionJson(v, false)) } : {}),
          ...(offset + max < versions.length ? { next_page_token: Buffer.from(pyJson({ offset: offset + max })).toString('base64') } : {}),
        };
      },
    },
    {
      method: 'GET',
      path: /^model-versions\/get-download-uri$/,
      handler: (query) => ({ artifact_uri: this.version(required(query, 'name'), required(query, 'version')).storage_location }),
    },
  ];

  /** `GET /model-versions/get-artifact?name&version&path` (outside `/api/`): one of the version's files. */
  artifact(query: Json): FileAnswer {
    const version = this.version(required(query, 'name'), required(query, 'version'));
    const prefix = 'mlflow-artifacts:/';
    const path = `${version.storage_location.slice(prefix.length)}/${asText(query['path'])}`;
    const bytes = version.storage_location.startsWith(prefix) ? this.context.state.artifacts.get(path) : undefined;
    if (!bytes) throw notFound(`File ${asText(query['path'])} not found`);
    return new FileAnswer(bytes);
  }
}

/** A clause of a model-version search: `name`, `run_id`, `source_path`, `version_number` or `tags.<k>`. */
function versionClause(clause: string): (version: ModelVersion) => boolean {
  const match = /^\s*(.+?)\s*(!=|=|\bLIKE\b|\bILIKE\b)\s*(.+?)\s*$/i.exec(clause);
  if (!match) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid filter '${clause}'`);
  const fieldName = match[1]!.replace(/^attributes?\./, '');
  const comparator = match[2]!.toUpperCase();
  const expected = match[3]!.replace(/^'(.*)'$|^"(.*)"$/s, '$1$2');
  const actualOf = (version: ModelVersion): string | undefined => {
    const tag = /^tags?\.(?:`([^`]+)`|"([^"]+)"|(.+))$/.exec(fieldName);
    if (tag) return version.tags.find((t) => t.key === (tag[1] ?? tag[2] ?? tag[3]))?.value;
    const attribute = { name: version.name, run_id: version.run_id, source_path: version.source, version_number: version.version }[
      fieldName
    ];
    if (attribute === undefined && !['name', 'run_id', 'source_path', 'version_number'].includes(fieldName)) {
      throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid attribute key '${fieldName}' specified.`);
    }
    return attribute;
  };
  return (version) => {
    const actual = actualOf(version);
    if (actual === undefined) return false;
    if (comparator === '=') return actual === expected;
    if (comparator === '!=') return actual !== expected;
    const pattern = new RegExp(
      `^${expected
        .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        .replace(/%/g, '.*')
        .replace(/_/g, '.')}$`,
      comparator === 'ILIKE' ? 'i' : '',
    );
    return pattern.test(actual);
  };
}

import { ThawError, describeValue } from '@thaw/contracts';

/** Where runs go: an MLflow tracking server, or MLflow's file store in a local folder. */
export type TrackingTarget =
  { readonly kind: 'server'; readonly server: MlflowServerConfig } | { readonly kind: 'local'; readonly store: string };

export interface MlflowServerConfig {
  /** The server's base URL without credentials (safe to print). */
  readonly url: string;
  readonly token?: string;
  readonly username?: string;
  readonly password?: string;
  readonly insecureTls: boolean;
}

/** What overrides the environment, strongest first: CLI flags, then the spec. */
export interface TrackingOverrides {
  readonly uri?: string | undefined;
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase());
}

/** A URL with any user name and password removed, for messages, params and tags. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.username === '' && url.password === '') return text;
    url.username = '';
    url.password = '';
    return url.href;
  } catch {
    return text.replace(/\/\/[^/@]*@/, '//');
  }
}

/**
 * Tracking configuration the MLflow way: MLFLOW_TRACKING_URI (http/https → that server; a path,
 * file: URI or nothing → the local store), MLFLOW_TRACKING_TOKEN (bearer) or
 * MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (basic; credentials in the URI work too),
 * MLFLOW_TRACKING_INSECURE_TLS. `uri` from a flag or the spec overrides the environment.
 */
export function resolveTrackingTarget(
  localStore: string,
  overrides: TrackingOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
  origin = 'MLFLOW_TRACKING_URI',
): TrackingTarget {
  const uri = overrides.uri ?? env['MLFLOW_TRACKING_URI'];
  if (uri === undefined || uri.trim() === '') return { kind: 'local', store: localStore };
  if (uri.startsWith('file:')) return { kind: 'local', store: new URL(uri).pathname };
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) return { kind: 'local', store: uri };
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new ThawError(
      `${origin}: received ${describeValue(redactUrl(uri))}; expected an http(s) URL of an MLflow server or a local folder`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ThawError(
      `${origin}: received ${describeValue(redactUrl(uri))}; thaw speaks to MLflow tracking servers over http or https, or writes a local folder (expected http://host:5000, https://…, or a path)`,
    );
  }
  const username = url.username !== '' ? decodeURIComponent(url.username) : env['MLFLOW_TRACKING_USERNAME'];
  const password = url.password !== '' ? decodeURIComponent(url.password) : env['MLFLOW_TRACKING_PASSWORD'];
  url.username = '';
  url.password = '';
  const token = env['MLFLOW_TRACKING_TOKEN'];
  return {
    kind: 'server',
    server: {
      url: url.href.replace(/\/+$/, ''),
      ...(token ? { token } : {}),
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
      insecureTls: truthy(env['MLFLOW_TRACKING_INSECURE_TLS']),
    },
  };
}

import { Redis } from 'ioredis';
import { ThawError, describeValue } from '@thaw/contracts';
import { redactUrl } from '../tracking/tracking-config.js';

/** A Redis URL with its password removed, for messages. */
export function displayRedisUrl(url: string): string {
  return redactUrl(url);
}

/**
 * A connection for BullMQ from a redis:// or rediss:// (TLS) URL, with user name, password and
 * database number as the URL gives them. Fails with a clear error when Redis cannot be reached.
 */
export async function connectRedis(url: string, option = '--queue'): Promise<Redis> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ThawError(
      `${option}: received ${describeValue(displayRedisUrl(url))}; expected a Redis URL such as redis://host:6379/0 or rediss://:password@host:6380/0`,
    );
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new ThawError(`${option}: received ${describeValue(displayRedisUrl(url))}; expected a redis:// or rediss:// (TLS) URL`);
  }
  const redis = new Redis(url, {
    // BullMQ blocks on Redis; it needs commands to wait, not fail, while reconnecting.
    maxRetriesPerRequest: null,
    lazyConnect: true,
    ...(process.env['THAW_REDIS_INSECURE_TLS'] === 'true' && parsed.protocol === 'rediss:' ? { tls: { rejectUnauthorized: false } } : {}),
  });
  // Errors after connecting are retried by ioredis; the first connection must succeed.
  let lastError: { code?: string; message?: string } | undefined;
  redis.on('error', (error: { code?: string; message?: string }) => (lastError = error));
  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 10 s')), 10_000).unref()),
    ]);
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    const cause = lastError ?? (error as { code?: string; message?: string });
    const reason = cause.code ?? cause.message ?? String(error);
    throw new ThawError(
      `${option}: cannot reach Redis at ${displayRedisUrl(url)} (${reason}); expected a running Redis server (e.g. Debian's redis-server)`,
    );
  }
  return redis;
}

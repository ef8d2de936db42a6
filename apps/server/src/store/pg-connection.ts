import pg from 'pg';
import { ConfigError } from '../errors.js';

/** Where and how the PostgreSQL store connects: the URL as pg gets it, and the schema. */
export interface PgTarget {
  /** The connection URL without Warden's own `schema` parameter (pg would pass it on). */
  connectionString: string;
  schema: string;
  /** A libpq `options` value from the URL, kept and extended with the search_path. */
  urlOptions: string | undefined;
}

/**
 * Unquoted lowercase identifiers only: the name goes into `search_path` through the startup
 * `options` (where PostgreSQL folds unquoted names to lowercase and splits on spaces), and into
 * `CREATE SCHEMA`, so anything else would be created under one name and searched under another.
 */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Reads `postgres://…[?schema=NAME]`. The schema comes from `schema`, else the URL's
 * `?schema=`, else `public`; the parameter is removed because pg would send it to the server
 * as a run-time setting, which PostgreSQL refuses.
 */
export function parsePgTarget(url: string, schema?: string): PgTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(
      'server.database_url: not a URL (expected postgres://user@host:port/database)',
      'server.database_url',
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ConfigError(
      `server.database_url: scheme ${parsed.protocol} is not postgres: or postgresql:`,
      'server.database_url',
    );
  }
  const fromUrl = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  const urlOptions = parsed.searchParams.get('options') ?? undefined;
  // Given back through the config; pg lets URL parameters override config fields.
  parsed.searchParams.delete('options');
  const name = schema ?? (fromUrl === null || fromUrl === '' ? 'public' : fromUrl);
  if (!SCHEMA_NAME.test(name)) {
    throw new ConfigError(
      `server.database_url: schema ${JSON.stringify(name)} must be a lowercase identifier ` +
        `(a-z, 0-9 and _, not starting with a digit, at most 63 characters)`,
      'server.database_url',
    );
  }
  return { connectionString: parsed.toString(), schema: name, urlOptions };
}

const INT8_OID = 20;

/**
 * int8 (bigint: seq, timestamps, count(*)) as a JS number. pg returns int8 as a string by
 * default because it may exceed 2^53; Warden's seqs and epoch-ms timestamps stay far below.
 * Set per pool and client rather than on `pg.types`, so other users of pg in the same process
 * keep their own parsing.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** Client settings shared by the pool and the writer connection. */
export function pgClientConfig(
  target: PgTarget,
  extra: { applicationName: string; options?: string },
): pg.ClientConfig {
  const options = [target.urlOptions, `-c search_path=${target.schema}`, extra.options]
    .filter((o) => o !== undefined && o !== '')
    .join(' ');
  return {
    connectionString: target.connectionString,
    application_name: extra.applicationName,
    options,
    types,
    // A peer that vanished without a FIN (network cut) is noticed by TCP keepalive.
    keepAlive: true,
    connectionTimeoutMillis: 10_000,
  };
}

/** `"name"` for SQL text; the name was checked against SCHEMA_NAME already. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

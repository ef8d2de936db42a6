import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { parsePgTarget, pgClientConfig } from './pg-connection.js';

describe('parsePgTarget', () => {
  it('takes the schema from the option, else from ?schema=, else public', () => {
    expect(parsePgTarget('postgres://u@h:5432/db').schema).toBe('public');
    expect(parsePgTarget('postgres://u@h:5432/db?schema=fleet_a').schema).toBe('fleet_a');
    expect(parsePgTarget('postgres://u@h:5432/db?schema=fleet_a', 'fleet_b').schema).toBe(
      'fleet_b',
    );
  });

  it('strips ?schema= before the URL reaches pg, keeping every other parameter', () => {
    const t = parsePgTarget('postgres://u:p@h:5432/db?sslmode=disable&schema=s1');
    expect(t.connectionString).toBe('postgres://u:p@h:5432/db?sslmode=disable');
  });

  it('sets search_path on every connection, after any options the URL already had', () => {
    const t = parsePgTarget('postgres://u@h/db?schema=s1&options=-c%20work_mem%3D64MB');
    expect(t.connectionString).toBe('postgres://u@h/db');
    const c = pgClientConfig(t, { applicationName: 'warden', options: '-c lock_timeout=1000' });
    expect(c.options).toBe('-c work_mem=64MB -c search_path=s1 -c lock_timeout=1000');
  });

  it('refuses schema names that search_path would read differently, naming the key', () => {
    for (const bad of ['Fleet', 'a b', 'x;drop', '1abc', 'a'.repeat(64)]) {
      expect(() => parsePgTarget(`postgres://h/db?schema=${encodeURIComponent(bad)}`)).toThrow(
        ConfigError,
      );
    }
    expect(() => parsePgTarget('mysql://h/db')).toThrow(/scheme mysql: is not postgres:/);
    expect(() => parsePgTarget('not a url')).toThrow(/server.database_url: not a URL/);
  });
});

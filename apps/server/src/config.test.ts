import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { ConfigError } from './errors.js';

function dirWith(yaml?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cfg-'));
  if (yaml !== undefined) writeFileSync(join(dir, 'warden.yaml'), yaml);
  return dir;
}

describe('loadConfig', () => {
  it('uses the defaults with no file', () => {
    const dir = dirWith();
    const c = loadConfig({}, {}, dir);
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 7070, metrics_public: false });
    expect(c.dataDir).toBe(join(dir, '.warden'));
    expect(c.databaseUrl).toBe(`sqlite:${join(dir, '.warden', 'warden.db')}`);
    expect(c.limits).toMatchObject({
      max_event_bytes: 65536,
      max_batch_events: 1000,
      max_frame_bytes: 2 * 1024 * 1024,
    });
    expect(c.websocket).toEqual({ ping_interval: 30_000, max_buffered_bytes: 4 * 1024 * 1024 });
    expect(c.configFile).toBeUndefined();
  });

  it('reads ./warden.yaml when present; flag beats env beats file', () => {
    const dir = dirWith('server:\n  port: 8000\n  host: 0.0.0.0\n');
    expect(loadConfig({}, {}, dir).server.port).toBe(8000);
    expect(loadConfig({}, { WARDEN_PORT: '8100' }, dir).server.port).toBe(8100);
    expect(loadConfig({ port: '8200' }, { WARDEN_PORT: '8100' }, dir).server.port).toBe(8200);
    expect(loadConfig({}, { WARDEN_HOST: '::1' }, dir).server.host).toBe('::1');
  });

  it('takes the secret from WARDEN_JWT_SECRET over the file', () => {
    const dir = dirWith('auth:\n  jwt_secret: from-the-file-0123456789\n');
    expect(loadConfig({}, {}, dir).auth.jwt_secret).toBe('from-the-file-0123456789');
    expect(
      loadConfig({}, { WARDEN_JWT_SECRET: 'from-the-env-0123456789' }, dir).auth.jwt_secret,
    ).toBe('from-the-env-0123456789');
  });

  it('names an unknown key', () => {
    const dir = dirWith('server:\n  prot: 1\n');
    expect(() => loadConfig({}, {}, dir)).toThrow(/unknown key server\.prot/);
  });

  it('names a bad value and its key', () => {
    const dir = dirWith('retention:\n  events: soon\n');
    expect(() => loadConfig({}, {}, dir)).toThrow(/retention\.events: "soon" is not a duration/);
    const dir2 = dirWith('server:\n  port: "x"\n');
    expect(() => loadConfig({}, {}, dir2)).toThrow(ConfigError);
    expect(() => loadConfig({ port: 'abc' }, {}, dirWith())).toThrow(/server\.port/);
  });

  it('reports broken YAML and a missing named file', () => {
    expect(() => loadConfig({}, {}, dirWith('server: [\n'))).toThrow(/invalid YAML/);
    expect(() => loadConfig({ config: '/nope/warden.yaml' }, {}, dirWith())).toThrow(
      /does not exist/,
    );
  });

  it('refuses a database URL that is neither sqlite: nor postgres://', () => {
    expect(() => loadConfig({ databaseUrl: 'mysql://x' }, {}, dirWith())).toThrow(/database_url/);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, serverJson, stopDaemonIn, tempDataDir } from './test-support/cli-run.js';

// `warden open` against a real daemon: the link it prints signs in once.
let dir: string;
let url: string;

beforeAll(() => {
  dir = tempDataDir();
  const started = runCli(['daemon', 'start', '--data-dir', dir, '--port', '0']);
  if (started.status !== 0) throw new Error(`daemon start failed: ${started.stderr}`);
  url = serverJson(dir).url;
});

afterAll(async () => {
  if (dir) await stopDaemonIn(dir);
});

async function signIn(
  loginCode: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/v1/auth/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ loginCode }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('warden open', () => {
  it('prints only a one-time login link on stdout; the link opens one session of its role', async () => {
    const r = runCli(['open', '--role', 'viewer', '--no-browser', '--ttl', '5m'], {
      WARDEN_DATA_DIR: dir,
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/one-time viewer login link .* valid for 5 min/);
    const link = r.stdout.trim();
    expect(link).toMatch(
      new RegExp(`^${url.replace(/\./g, '\\.')}/login#code=[\\w-]+\\.[\\w-]+\\.[\\w-]+$`),
    );
    const code = link.split('#code=')[1]!;
    const first = await signIn(code);
    expect(first.status).toBe(200);
    expect(first.body.session).toMatchObject({ role: 'viewer', method: 'login_link' });
    const again = await signIn(code);
    expect(again.status).toBe(401);
  });

  it('refuses a ttl above auth.login_link_ttl and an unknown role with clear errors', () => {
    const long = runCli(['open', '--no-browser', '--ttl', '30d'], { WARDEN_DATA_DIR: dir });
    expect(long.status).toBe(1);
    expect(long.stderr).toMatch(/ttl must be at most auth.login_link_ttl/);
    const role = runCli(['open', '--role', 'root'], { WARDEN_DATA_DIR: dir });
    expect(role.status).toBe(64);
    expect(role.stderr).toMatch(/Allowed choices are admin, operator, viewer/);
  });
});

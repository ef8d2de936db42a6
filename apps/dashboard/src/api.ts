/** The signed-in session as the browser keeps it (localStorage: survives reloads and tabs). */
export interface Session {
  token: string;
  role: 'admin' | 'operator' | 'viewer';
  sub: string;
  expiresAt: number;
  sessionId: string;
}

const KEY = 'warden.session';

export function loadSession(): Session | undefined {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Session | null;
    if (!s || typeof s.token !== 'string' || !(s.expiresAt > Date.now())) return undefined;
    return s;
  } catch {
    return undefined;
  }
}

export function saveSession(s: Session | undefined): void {
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
  window.dispatchEvent(new Event('warden:session'));
}

/** An RFC 9457 problem (or a network failure) as the pages show it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Calls the API with the session's token; a 401 ends the session (sign in again). */
export async function api<T>(
  path: string,
  opts: { method?: string; body?: unknown; token?: string; signal?: AbortSignal } = {},
): Promise<T> {
  const token = opts.token ?? loadSession()?.token;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method: opts.method ?? 'GET',
      headers,
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'unreachable', 'the server does not answer');
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const p = (body ?? {}) as { code?: string; detail?: string; title?: string };
    const err = new ApiError(
      res.status,
      p.code ?? 'http_error',
      p.detail ?? p.title ?? res.statusText,
    );
    if (res.status === 401 && !opts.token && loadSession()) saveSession(undefined);
    throw err;
  }
  return body as T;
}

/** Exchanges a login link's code or a pasted token for a session, and keeps it. */
export async function signIn(how: { loginCode: string } | { token: string }): Promise<Session> {
  const r = await api<{
    token: string;
    session: { id: string; sub: string; role: Session['role']; expiresAt: number };
  }>('/api/v1/auth/sessions', { method: 'POST', body: how, token: '' });
  const s: Session = {
    token: r.token,
    role: r.session.role,
    sub: r.session.sub,
    expiresAt: r.session.expiresAt,
    sessionId: r.session.id,
  };
  saveSession(s);
  return s;
}

/** Ends the session on the server (everywhere), then forgets it here. */
export async function signOut(): Promise<void> {
  try {
    await api('/api/v1/auth/session', { method: 'DELETE' });
  } finally {
    saveSession(undefined);
  }
}

/** Whether the role may start, stop and restart agents, ack alerts, resolve errors. */
export function canAct(s: Session | undefined): boolean {
  return s?.role === 'admin' || s?.role === 'operator';
}

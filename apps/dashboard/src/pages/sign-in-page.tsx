import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, signIn } from '../api';
import { navigate } from '../router';

function nextPath(): string {
  const m = /(?:^#|&)next=([^&]+)/.exec(location.hash);
  const next = m ? decodeURIComponent(m[1]!) : '/';
  // Only paths of this app: never an open redirect.
  return next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

/**
 * Sign-in: a one-time login link (`/login#code=…`, from `warden open` or the line `warden
 * serve` prints) signs in at once; else paste a token. Accounts with a password will add a
 * form beside the token one (the server's `POST /api/v1/auth/sessions` takes the method).
 */
export function SignInPage({ signedIn }: { signedIn: boolean }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const tried = useRef(false);

  useEffect(() => {
    const m = /(?:^#|&)code=([^&]+)/.exec(location.hash);
    if (!m || tried.current) {
      if (signedIn && !m) navigate(nextPath(), true);
      return;
    }
    tried.current = true;
    // The code leaves the address bar (and history) at once.
    history.replaceState(null, '', '/login');
    setBusy(true);
    signIn({ loginCode: decodeURIComponent(m[1]!) })
      .then(() => navigate('/', true))
      .catch((e: unknown) => setError(e instanceof ApiError ? e.message : String(e)))
      .finally(() => setBusy(false));
  }, [signedIn]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      await signIn({ token: token.trim() });
      navigate(nextPath(), true);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin" id="main">
      <h1>Warden</h1>
      <p className="lede">Control center for your fleet of agents.</p>
      {busy ? <p role="status">Signing in…</p> : null}
      {error ? (
        <p className="error-line" role="alert">
          {error}
        </p>
      ) : null}
      <section aria-labelledby="link-h">
        <h2 id="link-h">Sign in with a login link</h2>
        <p>
          On the server's machine run <code>npx warden open</code>: it prints a one-time link (and
          opens it when it can). <code>warden serve</code> prints one when it starts, too.
        </p>
      </section>
      <form onSubmit={(e) => void submit(e)} aria-labelledby="token-h">
        <h2 id="token-h">Or paste a token</h2>
        <label htmlFor="token">Token (viewer, operator or admin)</label>
        <textarea
          id="token"
          name="token"
          rows={3}
          value={token}
          onChange={(e) => setToken(e.target.value)}
          placeholder="eyJhbGciOi…"
          autoComplete="off"
          spellCheck={false}
          required
        />
        <p className="hint">
          Mint one with <code>npx warden token --role viewer</code>.
        </p>
        <button type="submit" className="primary" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
      </form>
    </main>
  );
}

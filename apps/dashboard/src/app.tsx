import { createContext, useContext, useEffect, useState } from 'react';
import { loadSession, signOut, type Session } from './api';
import { LiveConnection, type LiveState } from './live';
import { Link, navigate, usePath } from './router';
import { AgentPage } from './pages/agent-page';
import { AgentsPage } from './pages/agents-page';
import { AlertsPage } from './pages/alerts-page';
import { ErrorsPage } from './pages/errors-page';
import { OverviewPage } from './pages/overview-page';
import { SignInPage } from './pages/sign-in-page';
import { TasksPage } from './pages/tasks-page';

interface AppContext {
  session: Session;
  live: LiveConnection;
}

const Ctx = createContext<AppContext | undefined>(undefined);

/** The signed-in session and the live connection, for every page. */
export function useApp(): AppContext {
  const c = useContext(Ctx);
  if (!c) throw new Error('useApp outside the signed-in app');
  return c;
}

function useSession(): Session | undefined {
  const [s, setS] = useState(loadSession);
  useEffect(() => {
    const on = () => setS(loadSession());
    window.addEventListener('warden:session', on);
    window.addEventListener('storage', on);
    return () => {
      window.removeEventListener('warden:session', on);
      window.removeEventListener('storage', on);
    };
  }, []);
  return s;
}

const NAV = [
  ['/', 'Overview'],
  ['/agents', 'Agents'],
  ['/alerts', 'Alerts'],
  ['/errors', 'Errors'],
  ['/tasks', 'Tasks'],
] as const;

const LIVE_LABEL: Record<LiveState, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  'signed-out': 'session ended',
};

export function App() {
  const session = useSession();
  const path = usePath();
  const [live, setLive] = useState<LiveConnection>();
  const [liveState, setLiveState] = useState<LiveState>('connecting');

  useEffect(() => {
    if (!session) return;
    const c = new LiveConnection(session.token);
    setLive(c);
    setLiveState(c.state);
    const off = c.onState(setLiveState);
    return () => {
      off();
      c.close();
      setLive(undefined);
    };
  }, [session]);

  // Signed out (or never in): the sign-in page, which comes back to where the person was.
  useEffect(() => {
    if (!session && path !== '/login') {
      navigate(`/login${path !== '/' ? `#next=${encodeURIComponent(path)}` : ''}`, true);
    }
  }, [session, path]);

  if (!session || path === '/login') return <SignInPage signedIn={!!session} />;
  if (!live) return null;

  let page;
  const agent = /^\/agents\/([^/]+)$/.exec(path);
  if (path === '/') page = <OverviewPage />;
  else if (path === '/agents') page = <AgentsPage />;
  else if (agent) page = <AgentPage agentId={decodeURIComponent(agent[1]!)} />;
  else if (path === '/alerts') page = <AlertsPage />;
  else if (path === '/errors') page = <ErrorsPage />;
  else if (path === '/tasks') page = <TasksPage />;
  else
    page = (
      <main className="page">
        <h1>Not found</h1>
        <p>
          No page at <code>{path}</code>. <Link href="/">Back to the overview</Link>.
        </p>
      </main>
    );

  const current = path === '/' ? '/' : `/${path.split('/')[1]}`;
  return (
    <Ctx.Provider value={{ session, live }}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href="/" className="brand" aria-label="Warden overview">
          Warden
        </Link>
        <nav aria-label="Main">
          {NAV.map(([href, label]) => (
            <Link key={href} href={href} aria-current={current === href ? 'page' : undefined}>
              {label}
            </Link>
          ))}
        </nav>
        <div className="top-right">
          <span
            className={`live live-${liveState}`}
            role="status"
            aria-live="polite"
            data-testid="live-state"
          >
            <span aria-hidden="true">●</span> {LIVE_LABEL[liveState]}
          </span>
          <span className="who" title={session.sub}>
            {session.role}
          </span>
          <button onClick={() => void signOut()}>Sign out</button>
        </div>
      </header>
      <div id="main">{page}</div>
    </Ctx.Provider>
  );
}

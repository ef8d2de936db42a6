import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PluginProblem } from './plugin-host.js';

// Only type imports: a test runs this file, transpiled alone, in a real child process.

/** A crash attributed to a plugin: a {@link PluginProblem} with code `crashed`, plus the file. */
export interface PluginCrash extends PluginProblem {
  code: 'crashed';
  /** The plugin file the stack points into. */
  file: string;
  /** The value that was thrown or rejected. */
  error: unknown;
}

/** The slice of `process` the guard uses. */
export interface CrashGuardProcess {
  on(
    event: 'uncaughtException' | 'unhandledRejection',
    listener: (error: unknown) => void,
  ): unknown;
  off(
    event: 'uncaughtException' | 'unhandledRejection',
    listener: (error: unknown) => void,
  ): unknown;
}

/** Options of {@link installPluginCrashGuard}. */
export interface PluginCrashGuardOptions {
  /** @defaultValue the real `process` */
  process?: CrashGuardProcess;
  /**
   * The plugin name of a file (`PluginHost.pluginForFile`). @defaultValue the file name
   * without its extension
   */
  pluginForFile?(file: string): string | undefined;
  /**
   * What happens to errors that are not a plugin's: the supervisor's own bugs. @defaultValue
   * what Node does without a handler: the stack on stderr, exit code 1
   */
  onOther?(error: unknown, kind: 'uncaughtException' | 'unhandledRejection'): void;
}

/** Frames like `at fn (file:///x/a.mjs?v=1:3:9)`, `at /x/a.js:3:9`, `at async file:///x/a.mjs:3:9`. */
const FRAME = /^\s*at (?:async )?(?:.*?\()?((?:file:\/\/|\/|[A-Za-z]:\\).+?):\d+:\d+\)?\s*$/;

/**
 * The plugin file inside `dir` that `error`'s stack points into — the top-most such frame —
 * or undefined when no frame is in `dir` (or the value carries no stack, such as a rejected
 * string: those cannot be told apart from the supervisor's own and are not attributed).
 * File URLs (ES modules, with their cache-busting query) and plain paths (CommonJS) both count.
 */
export function attributeToPlugin(error: unknown, dir: string): string | undefined {
  let stack: unknown;
  try {
    stack = (error as { stack?: unknown } | null)?.stack;
  } catch {
    return undefined;
  }
  if (typeof stack !== 'string') return undefined;
  const root = path.resolve(dir);
  for (const line of stack.split('\n')) {
    const m = FRAME.exec(line);
    if (!m) continue;
    let file = m[1]!;
    if (file.startsWith('file://')) {
      try {
        file = fileURLToPath(new URL(file));
      } catch {
        continue;
      }
    }
    const rel = path.relative(root, file);
    if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)) return path.join(root, rel);
  }
  return undefined;
}

/**
 * Catches what plugin code throws outside any call the {@link PluginHost} made — a timer
 * callback that throws, a promise it leaves to reject — so a plugin cannot take the
 * supervisor down. Listens to the process's 'uncaughtException' and 'unhandledRejection';
 * an error whose stack points into `dir` is reported to `onProblem` (code `crashed`; feed it
 * to `PluginHost.crashed`, which may disable the plugin), and the process goes on. Any other
 * error goes to `onOther`, by default crashing the process as Node would, because after an
 * unknown error of its own the supervisor's state cannot be trusted.
 *
 * Install it once, as the only handler of those two events (others would see plugin errors
 * too). Returns a function that uninstalls it.
 */
export function installPluginCrashGuard(
  dir: string,
  onProblem: (crash: PluginCrash) => void,
  options: PluginCrashGuardOptions = {},
): () => void {
  const proc = options.process ?? process;
  const onOther = options.onOther ?? crashLikeNode;
  const handle = (kind: 'uncaughtException' | 'unhandledRejection') => (error: unknown) => {
    const file = attributeToPlugin(error, dir);
    if (file === undefined) {
      onOther(error, kind);
      return;
    }
    const plugin = options.pluginForFile?.(file) ?? path.basename(file).replace(/\.m?js$/, '');
    const call = kind === 'uncaughtException' ? 'uncaught exception' : 'unhandled rejection';
    const shown = `${path.basename(path.dirname(file))}/${path.basename(file)}`;
    const crash: PluginCrash = {
      plugin,
      call,
      code: 'crashed',
      reason: `plugin "${plugin}" (${shown}): ${call} ${describe(error)}`,
      disabled: false,
      file,
      error,
    };
    try {
      onProblem(crash);
    } catch {
      // Throwing here would re-enter this handler; the report is lost, the process lives.
    }
  };
  const onException = handle('uncaughtException');
  const onRejection = handle('unhandledRejection');
  proc.on('uncaughtException', onException);
  proc.on('unhandledRejection', onRejection);
  let installed = true;
  return () => {
    if (!installed) return;
    installed = false;
    proc.off('uncaughtException', onException);
    proc.off('unhandledRejection', onRejection);
  };
}

function crashLikeNode(error: unknown): void {
  let text: string;
  try {
    text = error instanceof Error && error.stack ? error.stack : `Uncaught ${String(error)}`;
  } catch {
    text = 'Uncaught exception (unprintable)';
  }
  process.stderr.write(`${text}\n`);
  process.exit(1);
}

function describe(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.name}: ${error.message}`.split('\n')[0]!;
    return String(error).split('\n')[0]!;
  } catch {
    return 'an unprintable value';
  }
}

/**
 * Where a command writes: the process's streams, or buffers in tests that run the command in
 * the test's own process (against an in-process server, which a blocking child run would
 * starve).
 */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** The process's own stdout and stderr. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr };
}

import type { Command } from 'commander';
import { EXIT } from './exit-codes.js';

/** Registers `warden metrics` on `program`; `done` receives the exit code. */
export function registerMetricsCommand(program: Command, done: (code: number) => void): void {
  program
    .command('metrics')
    .description('(being built)')
    .action(() => {
      process.stderr.write('warden: metrics is not built yet\n');
      done(EXIT.failure);
    });
}

import type { Command } from 'commander';
import { EXIT } from './exit-codes.js';

/** Registers `warden alerts` on `program`; `done` receives the exit code. */
export function registerAlertsCommand(program: Command, done: (code: number) => void): void {
  program
    .command('alerts')
    .description('(being built)')
    .action(() => {
      process.stderr.write('warden: alerts is not built yet\n');
      done(EXIT.failure);
    });
}

import type { Command } from 'commander';
import { EXIT } from './exit-codes.js';

/** Registers `warden open` on `program`; `done` receives the exit code. */
export function registerOpenCommand(program: Command, done: (code: number) => void): void {
  program
    .command('open')
    .description('(being built)')
    .action(() => {
      process.stderr.write('warden: open is not built yet\n');
      done(EXIT.failure);
    });
}

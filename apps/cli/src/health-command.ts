import type { Command } from 'commander';
import { EXIT } from './exit-codes.js';

/** Registers `warden health` on `program`; `done` receives the exit code. */
export function registerHealthCommand(program: Command, done: (code: number) => void): void {
  program
    .command('health')
    .description('(being built)')
    .action(() => {
      process.stderr.write('warden: health is not built yet\n');
      done(EXIT.failure);
    });
}

import type { Command } from 'commander';
import { EXIT } from './exit-codes.js';

/** Registers `warden monitor` on `program`; `done` receives the exit code. */
export function registerMonitorCommand(program: Command, done: (code: number) => void): void {
  program
    .command('monitor')
    .description('(being built)')
    .action(() => {
      process.stderr.write('warden: monitor is not built yet\n');
      done(EXIT.failure);
    });
}

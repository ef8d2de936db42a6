import { describe, expect, it } from 'vitest';
import { DEFAULT_PROMPT_PATTERNS, PromptDetector } from './prompt-detector.js';

const detector = new PromptDetector();

describe('PromptDetector', () => {
  it.each([
    ['claude-proceed', '│ Do you want to proceed?                          │'],
    ['claude-proceed', ' Do you want to make this edit to src/app.ts?'],
    ['claude-choice', '│ ❯ 1. Yes                                         │'],
    ['trust-folder', ' Do you trust the files in this folder?'],
    ['allow', 'Allow Bash(npm test)?'],
    ['allow', '  Allow command? ▶ Yes (y)  No (n)'],
    ['yes-no', 'Overwrite config.json? (y/n) '],
    ['yes-no', 'Continue? [Y/n]'],
    ['yes-no', 'Delete everything? [y/N]'],
    ['yes-no', 'Really? (yes/no)'],
    ['press-enter', 'Press Enter to continue…'],
    ['yes-no-letters', 'Add src/x.py to the chat? (Y)es/(N)o/(A)ll/(S)kip all [Yes]:'],
    ['yes-no-letters', 'Approve? (y)es/(n)o'],
  ])('finds %s in %j', (name, line) => {
    expect(detector.detect(`some output\n${line}\n\n\n`)).toEqual({ name, line: line.trim() });
  });

  it('finds the Claude Code permission dialog as a whole', () => {
    const screen = [
      '╭──────────────────────────────────────────────╮',
      '│ Bash command                                  │',
      '│   rm -rf dist                                 │',
      '│ Do you want to proceed?                       │',
      '│ ❯ 1. Yes                                      │',
      "│   2. Yes, and don't ask again for rm commands │",
      '│   3. No, and tell Claude what to do (esc)     │',
      '╰──────────────────────────────────────────────╯',
    ].join('\n');
    expect(detector.detect(screen)).toEqual({
      name: 'claude-proceed',
      line: '│ Do you want to proceed?                       │',
    });
  });

  it('finds nothing on an ordinary working screen', () => {
    expect(detector.detect('✻ Thinking… (12s · esc to interrupt)\n> \n')).toBeUndefined();
    expect(detector.detect('')).toBeUndefined();
  });

  it('looks at the last lines only: a prompt scrolled up no longer counts', () => {
    const screen = [
      'Continue? [Y/n] y',
      ...Array.from({ length: 15 }, (_, i) => `step ${i}`),
      '',
      '',
    ].join('\n');
    expect(detector.detect(screen)).toBeUndefined();
    expect(new PromptDetector({ lastLines: 16 }).detect(screen)?.name).toBe('yes-no');
  });

  it('takes extra patterns after the built-in ones, or a list that replaces them', () => {
    const extra = new PromptDetector({
      extraPatterns: [{ name: 'deploy', pattern: /Deploy to prod\?/ }],
    });
    expect(extra.detect('Deploy to prod?')?.name).toBe('deploy');
    expect(extra.detect('Continue? [Y/n]')?.name).toBe('yes-no');
    const only = new PromptDetector({
      patterns: [{ name: 'deploy', pattern: /Deploy to prod\?/ }],
    });
    expect(only.detect('Continue? [Y/n]')).toBeUndefined();
    expect(DEFAULT_PROMPT_PATTERNS.length).toBeGreaterThan(5);
  });

  it('a global regex in the options matches every time, not every other time', () => {
    const d = new PromptDetector({ patterns: [{ name: 'g', pattern: /ok\?/g }] });
    expect([d.detect('ok?'), d.detect('ok?'), d.detect('ok?')].map((m) => m?.name)).toEqual([
      'g',
      'g',
      'g',
    ]);
  });
});

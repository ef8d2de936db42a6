/** One kind of "the agent is waiting for a person" prompt. */
export interface PromptPattern {
  /** Short stable name, reported in the reason (`claude-proceed`, `yes-no`). */
  name: string;
  /** Tested against each of the last lines of the screen, one line at a time. */
  pattern: RegExp;
}

/**
 * Permission and confirmation prompts of the common agent CLIs. Not anchored to line ends:
 * Claude Code draws its dialogs inside box borders (`│ Do you want to proceed? │`).
 */
export const DEFAULT_PROMPT_PATTERNS: readonly PromptPattern[] = [
  // Claude Code: "Do you want to proceed?", "Do you want to make this edit to a.ts?".
  { name: 'claude-proceed', pattern: /\bDo you want to [^?]{1,200}\?/i },
  { name: 'claude-choice', pattern: /❯\s*1\.\s*Yes\b/ },
  { name: 'trust-folder', pattern: /Do you trust the files in this folder\?/i },
  // Claude Code and Codex: "Allow Bash(ls)?", "Allow command?".
  { name: 'allow', pattern: /\bAllow\b[^?]{0,200}\?/ },
  // Aider, Codex: "(Y)es/(N)o/(A)ll", "Approve? (y)es/(n)o".
  { name: 'yes-no-letters', pattern: /\(y\)es\s*\/\s*\(n\)o/i },
  { name: 'yes-no', pattern: /\((y|yes)\/(n|no)\)|\[(y|yes)\/(n|no)\]/i },
  { name: 'press-enter', pattern: /Press Enter to continue/i },
];

/** What {@link PromptDetector.detect} found: the pattern and the screen line it matched. */
export interface PromptMatch {
  name: string;
  /** The matching line, trimmed (box borders and all) — what a person would see. */
  line: string;
}

/** Options of {@link PromptDetector}. */
export interface PromptDetectorOptions {
  /**
   * Replaces the built-in list.
   * @defaultValue {@link DEFAULT_PROMPT_PATTERNS}
   */
  patterns?: readonly PromptPattern[];
  /** Added after `patterns`: prompts of tools the built-in list does not know. */
  extraPatterns?: readonly PromptPattern[];
  /**
   * How many lines, counted up from the last non-blank one, are searched. Only the bottom
   * of the screen: a prompt the agent answered long ago, or `(y/n)` in a file the agent
   * printed, scrolls up and stops counting.
   * @defaultValue 15
   */
  lastLines?: number;
}

/** Finds an agent CLI's permission or confirmation prompt at the bottom of a pane's screen. */
export class PromptDetector {
  private readonly patterns: readonly PromptPattern[];
  private readonly lastLines: number;

  constructor(options: PromptDetectorOptions = {}) {
    this.patterns = [
      ...(options.patterns ?? DEFAULT_PROMPT_PATTERNS),
      ...(options.extraPatterns ?? []),
    ];
    this.lastLines = options.lastLines ?? 15;
  }

  /** The first pattern (in list order) found in the last lines of `screen`, if any. */
  detect(screen: string): PromptMatch | undefined {
    const lines = screen.split('\n').map((l) => l.trimEnd());
    let end = lines.length;
    while (end > 0 && lines[end - 1] === '') end--;
    const tail = lines.slice(Math.max(0, end - this.lastLines), end);
    for (const { name, pattern } of this.patterns) {
      // A global or sticky regex carries lastIndex between calls; test a fresh copy.
      const re =
        pattern.global || pattern.sticky
          ? new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''))
          : pattern;
      const line = tail.find((l) => re.test(l));
      if (line !== undefined) return { name, line: line.trim() };
    }
    return undefined;
  }
}

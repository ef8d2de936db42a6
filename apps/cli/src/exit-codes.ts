/** Exit codes of SPEC §12. */
export const EXIT = {
  ok: 0,
  failure: 1,
  config: 2,
  usage: 64,
} as const;

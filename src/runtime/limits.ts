/** The most warm-up or timed runs one call makes, for the CLI's flags and library callers alike: a typo of a few zeros should not run for days. */
export const MAX_RUNS = 100_000;
/** The longest `--budget` one timing may be given (a day): `--budget 60h` for `60s` is a typo, not a plan. */
export const MAX_BUDGET_S = 86_400;

/** The most warm-up or timed runs one call makes, for the CLI's flags and library callers alike: a typo of a few zeros should not run for days. */
export const MAX_RUNS = 100_000;

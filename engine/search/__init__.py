"""Search: one solve() entry point, beam search, rollouts, baselines, start programs, budgeted execution, results."""

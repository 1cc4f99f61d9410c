"""Hyperparameter sweeps: trials that really train, honest outcomes, CI-aware selection.

A sweep tunes one `train:` policy of the study. A *trial* is one hyperparameter setting;
it trains once per seed of the sweep (a *run*) and evaluates every run on the sweep's
missions. The objective of a trial is the mean over its runs.

- grid: every combination of the space's `values` / `points`. Trial ids hash the setting,
  so a new grid value adds trials and renumbers nothing.
- random: trial i samples from a generator seeded with (sampler_seed, i); a larger budget
  appends trials and leaves the first ones alone.
- tpe: Optuna's TPE in rounds of `batch_size` trials. Round r's trials are asked (each
  with its own sampler seed, from the completed trials of rounds < r only) once every
  trial of round r-1 is told. The Optuna study lives in a journal file under results/, so
  a crashed sweep resumes without losing or repeating a finished trial.

A run that raises (diverged loss, impossible batch shape, ...) is recorded as *failed*
with its error and never gets a score; a pruned run is recorded as *pruned*. Only trials
whose runs all completed are ranked. The best trial is chosen after re-evaluating the
top-k on fresh episode seeds, with bootstrap CIs, so a lucky trial does not win on noise
alone.

Modules: space (trials and their settings), search (Optuna), trials (one run: train,
evaluate, score), selection (the trial table and the best trial).

May import: everything below it (base, missions, policies, config, training, evaluation, stats).
"""

"""Statistics of evaluation tables, as small pure numpy/pandas functions: per-episode and
per-run scores, aggregates, the stratified bootstrap, significance tests, comparisons,
power analysis, learning curves, cross-play, VOR and mission analysis.

May import: the base modules, missions, policies, config, training, evaluation.
"""

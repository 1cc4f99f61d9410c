"""Evaluation: seeded episodes with seats (common random numbers), the evaluate and merge
jobs, replays, replaying a run's periodic checkpoints, the evaluation store shared by studies
(store) and SQL over stores and studies (query).

May import: the base modules, missions, policies, config.
"""

"""Evaluation: seeded episodes with seats (common random numbers), the evaluate and merge
jobs, replays, and replaying a run's periodic checkpoints.

May import: the base modules, missions, policies, config.
"""

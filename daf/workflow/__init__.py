"""The study as workflow/rules/*.smk see it (StudyPlan): result paths, job inputs, params and
flags, computed here so that the rules stay thin and the arithmetic is unit-tested.

May import: the base modules, missions, policies, config, sweeps (to plan trials).
"""

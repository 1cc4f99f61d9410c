"""Optuna for `strategy: tpe`: the study in a journal file under results/ (so a crashed sweep
resumes without losing or repeating a finished trial), asking a round's trials from the
completed trials of earlier rounds only, telling their outcomes, and pruning runs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from daf.errors import UserError
from daf.sweeps.space import coerce, is_int, trial_outcome


def distributions(spaces: dict) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for key in sorted(spaces):
        space = spaces[key]
        if space.values is not None:
            out[key] = CategoricalDistribution([coerce(key, v) for v in space.values])
        elif is_int(key):
            out[key] = IntDistribution(int(space.low), int(space.high), log=space.log)
        else:
            out[key] = FloatDistribution(space.low, space.high, log=space.log)
    return out


def make_pruner(pruner: dict | None):
    import optuna

    if not pruner:
        return optuna.pruners.NopPruner()
    if pruner["kind"] == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=pruner["startup_trials"], n_warmup_steps=pruner["warmup_reports"]
        )
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=pruner["reduction_factor"])


def open_study(journal: Path, name: str, direction: str, pruner: dict | None = None, sampler=None):
    """The sweep's Optuna study in its journal file (created on first use)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    journal.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(journal)))
    return optuna.create_study(
        study_name=name,
        storage=storage,
        direction=direction,
        sampler=sampler,
        pruner=make_pruner(pruner),
        load_if_exists=True,
    )


def ask(spaces: dict, direction: str, sampler_seed: int, startup_trials: int, name: str, journal: Path,
        slot: str, index: int) -> dict:  # fmt: skip
    """The proposal for one TPE slot. Idempotent: a slot asked before (e.g. by a job that
    crashed before writing its proposal) gets the same Optuna trial back."""
    import optuna

    sampler = optuna.samplers.TPESampler(
        seed=int(np.random.SeedSequence([sampler_seed, index]).generate_state(1)[0]),
        n_startup_trials=startup_trials,
        constant_liar=False,  # ignore running trials: a proposal depends on finished rounds only
    )
    study = open_study(journal, name, direction, None, sampler)
    for frozen in study.get_trials(deepcopy=False):
        if frozen.user_attrs.get("slot") == slot:
            if frozen.distributions != distributions(spaces):
                raise UserError(
                    f"trial {slot} was asked before with another search space ({frozen.params}); "
                    f"delete {journal.parent} to restart the sweep with the new space"
                )
            return _proposal(slot, frozen.number, frozen._trial_id, frozen.params)
    trial = study.ask(distributions(spaces))
    trial.set_user_attr("slot", slot)
    return _proposal(slot, trial.number, trial._trial_id, trial.params)


def _proposal(slot: str, number: int, optuna_id: int, params: dict) -> dict:
    return {"trial": slot, "optuna_number": number, "optuna_trial_id": optuna_id, "params": params}


def tell(name: str, journal: Path, direction: str, proposal: dict, runs: list[dict]) -> dict:
    """Tell Optuna a trial's outcome (once; telling again is a no-op)."""
    from optuna.trial import TrialState

    study = open_study(journal, name, direction)
    outcome = trial_outcome(runs)
    frozen = study._storage.get_trial(proposal["optuna_trial_id"])
    if frozen.state == TrialState.RUNNING:
        state = {"completed": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}
        value = outcome["objective"] if outcome["status"] == "completed" else None
        if outcome["error"]:
            study._storage.set_trial_system_attr(frozen._trial_id, "fail_reason", outcome["error"][:1000])
        study.tell(frozen.number, value, state=state[outcome["status"]], skip_if_finished=True)
    return {**proposal, **outcome}


class Pruning:
    """`on_update` hook for ppo.train: every `interval` agent-steps, report the mean reward
    per agent-step of the rollouts since the last report (defined long before the first
    episode ends) to the Optuna trial, and stop when the pruner says so. With several seeds
    the first seed's run reports; the others stop once it was pruned."""

    def __init__(self, study, optuna_trial_id: int, interval: int, reporter: bool):
        import optuna

        self.study, self.interval, self.reporter = study, interval, reporter
        self.trial = optuna.trial.Trial(study, optuna_trial_id)
        self.optuna_trial_id = optuna_trial_id
        self.window: list[float] = []
        self.next_report = interval
        self.reports: list[dict] = []
        self.pruned_at: int | None = None

    def __call__(self, row: dict) -> bool:
        if math.isfinite(row["reward_per_step"]):
            self.window.append(row["reward_per_step"])
        if row["agent_steps"] < self.next_report:
            return False
        step = row["agent_steps"] // self.interval
        self.next_report = (step + 1) * self.interval
        if not self.reporter:
            attrs = self.study._storage.get_trial(self.optuna_trial_id).user_attrs
            if "pruned_at_step" in attrs:
                self.pruned_at = row["agent_steps"]
                return True
            return False
        if not self.window:
            return False
        value = float(np.mean(self.window))
        self.window = []
        self.trial.report(value, step)
        self.reports.append({"step": step, "agent_steps": row["agent_steps"], "value": value})
        if self.trial.should_prune():
            self.pruned_at = row["agent_steps"]
            self.trial.set_user_attr("pruned_at_step", row["agent_steps"])
            return True
        return False

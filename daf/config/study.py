"""The study config: one pydantic model is the source of truth.

`config/config.yaml` is validated against `StudyConfig` before any job runs (the
Snakefile does it at parse time, `daf validate-config FILE` does it by hand).
`workflow/schemas/config.schema.json` is generated from this model (`daf schema`),
and a test fails when the two drift apart.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from daf import paths
from daf.config.base import MissionName, Strict, is_path_name, name_rule
from daf.config.sections import (
    CompareConfig,
    CrossplayConfig,
    CurvesConfig,
    EvaluationConfig,
    PlanConfig,
    PolicyConfig,
    PopulationConfig,
    ReportConfig,
    StoreConfig,
    TrackingConfig,
    VariantConfig,
    VorConfig,
)
from daf.config.sweeps import SWEEP_SPEC, SweepConfig
from daf.errors import UserError


class StudyConfig(Strict):
    """A DAF study: which policies to evaluate on which missions, and how."""

    policies: dict[str, PolicyConfig] = Field(
        min_length=1, description="Policy name -> policy. Names appear in result paths and the report."
    )
    missions: list[MissionName] = Field(
        min_length=1, description="Mission names (see `daf missions`) or paths to cogames-style mission .py files."
    )
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    store: StoreConfig | None = Field(
        default=None, description="Evaluation store shared by studies (optional; off by default)."
    )
    compare: CompareConfig = Field(default_factory=CompareConfig)
    vor: VorConfig | None = Field(default=None, description="Value-over-replacement scoring (optional).")
    crossplay: CrossplayConfig | None = Field(
        default=None, description="Cross-play: each policy with each other policy as teammates (optional)."
    )
    population: PopulationConfig | None = Field(
        default=None,
        description="Population rankings: Nash averaging over policies x missions, α-Rank over cross-play (optional).",
    )
    report: ReportConfig = Field(default_factory=ReportConfig)
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig,
        description="Training curves (every update) and the study's leaderboard and report to TensorBoard, MLflow "
        "or W&B.",
    )
    plan: PlanConfig | None = Field(
        default=None, description="Power analysis from the study's evaluations (results/plan/); off when absent."
    )
    curves: CurvesConfig | None = Field(
        default=None,
        description="Sample-efficiency curves of trained policies from their periodic checkpoints "
        "(results/curves/); off when absent.",
    )
    sweeps: dict[str, SweepConfig] = Field(default_factory=dict, description="Hyperparameter sweeps by name.")
    variants: dict[str, VariantConfig] = Field(
        default_factory=dict, description="Variant sweeps by name: policies across a mission family."
    )

    @field_validator("policies", "sweeps", "variants")
    @classmethod
    def _names(cls, entries: dict, info) -> dict:
        kind = {"policies": "policy", "sweeps": "sweep", "variants": "variant"}[info.field_name]
        for name in entries:
            if not is_path_name(name):
                raise ValueError(f"{kind} name {name!r} must match {name_rule()} (it is used in file names)")
        return entries

    @field_validator("missions")
    @classmethod
    def _missions_exist(cls, missions: list[str]) -> list[str]:
        from daf.missions import mission_id

        ids = [mission_id(m) for m in missions]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"missions listed twice (or files with the same stem): {', '.join(duplicates)}")
        return missions

    @model_validator(mode="after")
    def _curve_names_free(self) -> StudyConfig:
        # results/curves/{policy}.parquet sits beside the aggregate tables
        taken = sorted(set(self.trained_policies()) & {"summary", "final_vs_best"}) if self.curves else []
        if taken:
            raise ValueError(f"policies.{taken[0]}: with `curves`, a trained policy may not be named summary or "
                             "final_vs_best (results/curves/ holds tables of those names); rename it")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _references_exist(self) -> StudyConfig:
        for name, policy in self.policies.items():
            unknown = [m for m in policy.missions or [] if m not in self.missions]
            if unknown:
                raise ValueError(
                    f"policies.{name}.missions: {', '.join(unknown)} not in the study's missions "
                    f"({', '.join(self.missions)})"
                )
        names = ", ".join(self.policies)
        norm = self.compare.normalization
        for field, ref in (("low", norm.low), ("high", norm.high)) if norm else ():
            if ref not in self.policies:
                raise ValueError(f"compare.normalization.{field}: unknown policy '{ref}'; valid policies: {names}")
            if self.policies[ref].missions is not None and set(self.policies[ref].missions) != set(self.missions):
                raise ValueError(f"compare.normalization.{field}: '{ref}' must be evaluated on every mission")
        if self.vor is not None:
            vor = self.vor
            for field, refs in (("candidates", vor.candidates), ("replacement", vor.replacement)):
                for ref in refs:
                    if ref not in self.policies:
                        raise ValueError(f"vor.{field}: unknown policy '{ref}'; valid policies: {names}")
            overlap = set(vor.candidates) & set(vor.replacement)
            if overlap:
                raise ValueError(f"vor: {', '.join(sorted(overlap))} cannot be both candidate and replacement")
            if vor.replacement_weights is not None and len(vor.replacement_weights) != len(vor.replacement):
                raise ValueError("vor.replacement_weights: give one weight per replacement policy")
            if vor.replacement_weights is not None and any(w <= 0 for w in vor.replacement_weights):
                raise ValueError("vor.replacement_weights: weights must be positive")
            for m in vor.missions or []:
                if m not in self.missions:
                    raise ValueError(f"vor.missions: {m} not in the study's missions ({', '.join(self.missions)})")
            for candidate in vor.candidates:
                playable = set(self.policy_missions(candidate))
                for ref in vor.replacement:
                    playable &= set(self.policy_missions(ref))
                if not set(self.vor_missions(candidate)) <= playable:
                    raise ValueError(
                        f"vor: '{candidate}' and its replacement do not all play {self.vor_missions(candidate)}"
                    )
        for i, pair in enumerate(self.plan.pairs or [] if self.plan else []):
            parts = pair.split(":")
            if len(parts) != 2 or any(p not in self.policies for p in parts):
                raise ValueError(f"plan.pairs[{i}]: '{pair}' must be A:B with two of the policies ({names})")
        self._check_sweeps()
        self._check_variants()
        self._check_crossplay()
        self._check_population()
        return self

    def _check_population(self) -> None:
        population = self.population
        if population is None:
            return
        names = ", ".join(self.policies)
        for ref in population.policies or []:
            if ref not in self.policies:
                raise ValueError(f"population.policies: unknown policy '{ref}'; valid policies: {names}")
        if population.policies is not None and len(set(population.policies)) != len(population.policies):
            raise ValueError("population.policies: a policy is listed twice")
        for m in population.missions or []:
            if m not in self.missions:
                raise ValueError(f"population.missions: {m} not in the study's missions ({', '.join(self.missions)})")
        if population.nash:
            policies = self.nash_policies()
            if len(policies) < 2:
                raise ValueError("population.policies: Nash averaging ranks at least two policies")
            for policy in policies:
                missing = [m for m in self.nash_missions() if m not in self.policy_missions(policy)]
                if missing:
                    raise ValueError(f"population.missions: '{policy}' is not evaluated on {missing[0]}; Nash "
                                     "averaging needs every policy on every mission")  # fmt: skip
            if not self.nash_missions():
                raise ValueError(f"population: no mission is played by every one of {', '.join(policies)}; "
                                 "choose population.policies")  # fmt: skip
        ranked = population.alpharank
        if ranked is None:
            return
        if self.crossplay is None:
            raise ValueError("population.alpharank: needs the crossplay section (α-Rank ranks its games)")
        for m in ranked.missions or []:
            if m not in (self.crossplay.missions or self.missions):
                raise ValueError(f"population.alpharank.missions: {m} is not a cross-play mission "
                                 f"({', '.join(self.crossplay.missions or self.missions)})")  # fmt: skip

    def nash_policies(self) -> list[str]:
        """Policies of the Nash-averaging game."""
        population = self.population
        return list(population.policies or self.policies) if population else []

    def nash_missions(self) -> list[str]:
        """Mission ids of the Nash-averaging game: the configured ones, else every study mission all
        its policies play."""
        from daf.missions import mission_id

        population = self.population
        if population is None or not population.nash:
            return []
        if population.missions:
            return [mission_id(m) for m in population.missions]
        return [mission_id(m) for m in self.missions
                if all(mission_id(m) in self.policy_missions(p) for p in self.nash_policies())]  # fmt: skip

    def alpharank_missions(self) -> list[str]:
        """Mission ids α-Rank ranks (among the cross-play missions)."""
        from daf.missions import mission_id

        ranked = self.population.alpharank if self.population else None
        if ranked is None:
            return []
        return [mission_id(m) for m in ranked.missions] if ranked.missions else self.crossplay_missions()

    def _check_crossplay(self) -> None:
        from daf.missions import get_mission, mission_id
        from daf.missions.teams import split_agents

        play = self.crossplay
        if play is None:
            return
        names = ", ".join(self.policies)
        for ref in play.policies:
            if ref not in self.policies:
                raise ValueError(f"crossplay.policies: unknown policy '{ref}'; valid policies: {names}")
        if len(set(play.policies)) != len(play.policies):
            raise ValueError("crossplay.policies: a policy is listed twice")
        for m in play.missions or []:
            if m not in self.missions:
                raise ValueError(f"crossplay.missions: {m} not in the study's missions ({', '.join(self.missions)})")
        if play.episodes is not None and play.episodes > self.evaluation.episodes:
            raise ValueError(f"crossplay.episodes: {play.episodes} exceeds evaluation.episodes "
                             f"({self.evaluation.episodes}); the diagonal reuses the study's evaluations")  # fmt: skip
        if len(set(map(str, play.splits))) != len(play.splits):
            raise ValueError("crossplay.splits: a split is listed twice")
        for mission in play.missions or self.missions:
            agents = get_mission(mission).config().game.num_agents
            for split in play.splits:
                try:
                    split_agents(split, agents, mission)
                except UserError as exc:
                    raise ValueError(f"crossplay.splits: {exc}") from None
            players = [p for p in play.policies if mission_id(mission) in self.policy_missions(p)]
            if len(players) < 2:
                raise ValueError(f"crossplay: fewer than two of crossplay.policies play mission {mission} "
                                 f"(only {players or 'none'}), one of crossplay.missions (default: all the "
                                 "study's); nothing to cross-play there")  # fmt: skip

    def _check_sweeps(self) -> None:
        names = ", ".join(self.policies)
        for name, policy in self.policies.items():
            match = SWEEP_SPEC.match((policy.spec or "").strip())
            if match and match.group(1) not in self.sweeps:
                valid = ", ".join(self.sweeps) or "none defined"
                raise ValueError(f"policies.{name}.spec: unknown sweep '{match.group(1)}'; sweeps: {valid}")
        for name, sweep in self.sweeps.items():
            where = f"sweeps.{name}"
            if sweep.policy not in self.policies:
                raise ValueError(f"{where}.policy: unknown policy '{sweep.policy}'; valid policies: {names}")
            if self.policies[sweep.policy].train is None:
                trained = ", ".join(self.trained_policies()) or "none"
                raise ValueError(f"{where}.policy: '{sweep.policy}' has no `train:` settings to tune; "
                                 f"trained policies: {trained}")  # fmt: skip
            if sweep.objective.metric == "vor":
                replacement = sweep.replacement or (self.vor.replacement if self.vor else None)
                if not replacement:
                    raise ValueError(f"{where}: the vor objective needs `replacement` (or the study's vor section)")
                for ref in replacement:
                    if ref not in self.policies:
                        raise ValueError(f"{where}.replacement: unknown policy '{ref}'; valid policies: {names}")
                    if self.policies[ref].train is not None or SWEEP_SPEC.match(self.policies[ref].spec or ""):
                        raise ValueError(f"{where}.replacement: '{ref}' must be an existing policy (spec:), "
                                         "not one this study trains")  # fmt: skip
            elif sweep.replacement is not None:
                raise ValueError(f"{where}.replacement: only used by the vor objective")

    def _check_variants(self) -> None:
        names = ", ".join(self.policies)
        for name, variant in self.variants.items():
            for ref in variant.policies:
                if ref not in self.policies:
                    raise ValueError(f"variants.{name}.policies: unknown policy '{ref}'; valid policies: {names}")
                if self.policies[ref].train is not None:
                    _check_playable(
                        f"variants.{name}", ref, self.policies[ref].train.mission_names()[0], variant.mission_names()
                    )

    def sweep_mission_names(self, sweep: str) -> list[str]:
        """Missions a sweep's objective is measured on (names or files)."""
        config = self.sweeps[sweep]
        return list(config.missions or self.policies[config.policy].train.mission_names())

    def sweep_replacement(self, sweep: str) -> list[str]:
        config = self.sweeps[sweep]
        return list(config.replacement or (self.vor.replacement if self.vor else []))

    def sweep_replacement_weights(self, sweep: str) -> list[float] | None:
        """Pool shares of a vor sweep: vor.replacement_weights when the sweep plays the study's
        vor pool (the same policies, in any order: each keeps its weight); None (equal shares)
        for another pool or without weights."""
        names = self.sweep_replacement(sweep)
        vor = self.vor
        if vor is None or vor.replacement_weights is None or sorted(names) != sorted(vor.replacement):
            return None
        weight = dict(zip(vor.replacement, vor.replacement_weights))
        return [float(weight[name]) for name in names]

    def variant_missions(self) -> dict[str, str]:
        """Mission id -> name of every variant-sweep mission."""
        from daf.missions import mission_id

        return {mission_id(m): m for v in self.variants.values() for m in v.mission_names()}

    def vor_missions(self, candidate: str) -> list[str]:
        """Mission ids a VOR candidate is scored on."""
        from daf.missions import mission_id

        if self.vor is not None and self.vor.missions is not None:
            return [mission_id(m) for m in self.vor.missions]
        return self.policy_missions(candidate)

    def crossplay_missions(self) -> list[str]:
        """Mission ids of the cross-play cells."""
        from daf.missions import mission_id

        return [mission_id(m) for m in (self.crossplay.missions or self.missions)] if self.crossplay else []

    def crossplay_episodes(self) -> int:
        """Episodes of every cross-play cell (the study's first ones)."""
        return self.crossplay.episodes or self.evaluation.episodes

    def crossplay_unplayable(self, mission: str) -> dict[str, str]:
        """Cross-play policies that do not play mission id `mission`, with why (the cells' note)."""
        notes = {}
        for name in self.crossplay.policies if self.crossplay else []:
            if mission in self.policy_missions(name):
                continue
            listed = ", ".join(self.policies[name].missions)
            note = f"'{name}' does not play {mission} (policies.{name}.missions: {listed})"
            trained_on = self._trained_on(name)
            if trained_on and not _playable(trained_on, self.mission_by_id()[mission]):
                note += f"; its network, trained on {trained_on}, needs other observation features or actions"
            notes[name] = note
        return notes

    def _trained_on(self, name: str) -> str | None:
        """The first training mission of a network DAF trains (itself, or through a sweep)."""
        policy = self.policies[name]
        match = SWEEP_SPEC.match((policy.spec or "").strip())
        if match and match.group(1) in self.sweeps:
            policy = self.policies[self.sweeps[match.group(1)].policy]
        return policy.train.mission_names()[0] if policy.train is not None else None

    def policy_spec(self, name: str, run: int | None = None) -> str:
        """The SPEC `daf evaluate` gets for a policy (a trained one: the checkpoint of training
        run `run`, by default its first seed)."""
        policy = self.policies[name]
        if policy.spec is None:
            seeds = policy.train.run_seeds()
            return f"class=trained,data={checkpoint_path(name, seeds[0] if run is None else run)}"
        match = SWEEP_SPEC.match(policy.spec.strip())
        return f"class=trained,data={sweep_best_path(match.group(1))}" if match else policy.spec

    def policy_missions(self, name: str) -> list[str]:
        """Mission ids this policy is evaluated on."""
        from daf.missions import mission_id

        return [mission_id(m) for m in (self.policies[name].missions or self.missions)]

    def trained_policies(self) -> list[str]:
        return [name for name, p in self.policies.items() if p.train is not None]

    def policy_runs(self, name: str) -> list[int]:
        """A policy's runs: the training seeds of a policy DAF trains, else one run, 0."""
        train = self.policies[name].train
        return train.run_seeds() if train is not None else [0]

    def mission_by_id(self) -> dict[str, str]:
        from daf.missions import mission_id

        return {mission_id(m): m for m in self.missions}


def checkpoint_path(policy: str, seed: int) -> str:
    return paths.MODEL.format(policy=policy, seed=seed)


def sweep_best_path(sweep: str) -> str:
    return paths.SWEEP_BEST_MODEL.format(sweep=sweep)


def _signature(name: str) -> tuple:
    """What a trained network needs of a mission: its observation features and actions."""
    from daf.missions import get_mission, mission_env_info
    from daf.policies.observations import observation_signature

    info = mission_env_info(get_mission(name))
    return observation_signature(info), list(info.action_names)


def _playable(trained_on: str, mission: str) -> bool:
    return _signature(mission) == _signature(trained_on)


def _check_playable(where: str, policy: str, trained_on: str, missions: list[str]) -> None:
    """A trained network plays only missions with its observation features and actions."""
    home = _signature(trained_on)
    unplayable = [m for m in missions if _signature(m) != home]
    if unplayable:
        raise ValueError(f"{where}: '{policy}' (trained on {trained_on}) cannot play {', '.join(unplayable)}: "
                         "other observation features or actions")  # fmt: skip

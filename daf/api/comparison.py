"""`daf.compare` (policies x missions -> leaderboard, pairwise tests, POI, an HTML report) and
`daf.gate` (the promotion gate's decision)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from daf.errors import UserError
from daf.stats.comparison import CompareSettings
from daf.stats.gate import GateResult, GateSettings

POI_COLUMNS = ["policy_a", "policy_b", "mission", "level", "poi", "poi_low", "poi_high"]


@dataclass(frozen=True)
class Comparison:
    """A comparison's tables (those `daf compare` writes) and the evaluations behind them.

    `leaderboard`: per policy x mission (and ALL) mean, median, IQM with CIs, success rate;
    `pairwise`: every pair's tests, effect sizes and corrected p-values; `poi`: the
    probability of improvement of `policy_a` over `policy_b` with its CI, one row per pair x
    mission; `profiles`: performance profiles. Columns are documented in daf.stats.comparison."""

    evals: pd.DataFrame
    leaderboard: pd.DataFrame
    pairwise: pd.DataFrame
    profiles: pd.DataFrame
    settings: CompareSettings
    specs: dict[str, str] = field(default_factory=dict)  # policy name -> SPEC (what played)
    episodes: int | None = None
    seed: int | None = None

    @classmethod
    def from_tables(
        cls, evals: pd.DataFrame | Sequence[str | Path], specs: Mapping[str, str] | None = None, **settings
    ) -> Comparison:
        """Compare existing evaluation tables (DataFrames or `daf evaluate` parquet paths);
        `settings` are CompareSettings fields (confidence, reps, seed, interval, alpha,
        correction, normalize, trained)."""
        from daf.stats.comparison import compare as compare_tables

        table = _as_table(evals)
        options = _settings(**settings)
        board, pairwise, profiles = compare_tables(table, options)
        return cls(table, board, pairwise, profiles, options, dict(specs or {}))

    @property
    def poi(self) -> pd.DataFrame:
        return self.pairwise[POI_COLUMNS].drop_duplicates(["policy_a", "policy_b", "mission"]).reset_index(drop=True)

    def leader(self, mission: str = "ALL") -> dict | None:
        """The best policy on `mission` (ALL: across missions), the runner-up and their
        comparison (daf.report.findings.leader)."""
        from daf.report.findings import leader

        return leader(self.leaderboard, self.pairwise, mission)

    def summary(self) -> str:
        """The leaderboard as text, then who leads each mission and whether it is resolved."""
        board = self.leaderboard
        width = max(len(p) for p in board["policy"])
        level = f"{self.settings.confidence:.0%}"
        lines = []
        for mission, part in board.groupby("mission", sort=False):
            lines.append(f"{mission}{' (normalised)' if part['normalized'].any() else ''}:")
            for row in part.sort_values(["mean", "policy"], ascending=[False, True]).itertuples():
                lines.append(f"  {row.policy.ljust(width)}  mean {row.mean:9.4g} [{row.ci_low:.4g}, {row.ci_high:.4g}]"
                             f"  success {row.success_rate:.0%}  runs {row.runs}  n {row.n}")  # fmt: skip
            lead = self.leader(str(mission))
            if lead and lead["runner_up"]:
                c = lead["comparison"]
                verdict = "resolved" if lead["resolved"] else "not resolved"
                detail = (f"; P(better) {c['poi']:.2f} [{c['poi_low']:.2f}, {c['poi_high']:.2f}], {c['test']} "
                          f"adjusted p {c['p_adjusted']:.3g}") if c else ""  # fmt: skip
                lines.append(f"  leader {lead['policy']} over {lead['runner_up']['policy']}: {verdict} ({level} CIs"
                             f"{detail})")  # fmt: skip
        return "\n".join(lines)

    def to_html(self, path: str | Path, title: str = "DAF comparison") -> Path:
        """Write the comparison as the report's self-contained HTML (findings, leaderboard,
        pairwise tests, POI and profiles; no other study sections). Byte-identical for the
        same comparison."""
        from daf.io import write_text
        from daf.report import comparison_inputs, render_report

        study = self._study(title)
        command = "daf.compare(...).to_html(...)  # Python API"
        inputs = comparison_inputs(study, "(Python API: no config file)", command, self.leaderboard, self.pairwise,
                                   self.profiles, self.evals)  # fmt: skip
        write_text(path, render_report(inputs))
        return Path(path)

    def _study(self, title: str):
        """The StudyConfig the report template reads (policies, missions, compare settings)."""
        from daf.config.study import StudyConfig

        names = sorted(self.evals["policy"].unique())
        missing = [n for n in names if n not in self.specs]
        if missing:
            raise UserError(f"to_html needs each policy's SPEC; none for {missing}: pass specs={{name: SPEC}} "
                            "to Comparison.from_tables")  # fmt: skip
        s = self.settings
        config = {
            "policies": {name: {"spec": self.specs[name]} for name in names},
            "missions": sorted(self.evals["mission"].unique()),
            "compare": {
                "confidence": s.confidence,
                "bootstrap_reps": s.reps,
                "interval": s.interval,
                "alpha": s.alpha,
                "correction": s.correction,
            },  # fmt: skip
            "report": {"title": title},
        }
        if s.normalize:
            config["compare"]["normalization"] = {"low": s.normalize[0], "high": s.normalize[1]}
        if self.episodes is not None:
            config["evaluation"] = {"episodes": self.episodes, "seed": self.seed}
        return StudyConfig.model_validate(config)


def compare(
    policies: Sequence[str] | Mapping[str, str],
    missions: Sequence[str],
    episodes: int = 32,
    seed: int = 0,
    *,
    normalize: tuple[str, str] | None = None,
    confidence: float = 0.95,
    reps: int = 10_000,
    interval: str = "percentile",
    alpha: float = 0.05,
    correction: str = "holm",
    num_envs: int = 16,
    device: str = "cpu",
) -> Comparison:
    """Play every policy on every mission (`episodes` seeded episodes each, the same episodes
    for every policy) and compare them. `policies` are SPECs (their names in the tables) or
    a mapping name -> SPEC; `normalize=(low, high)` maps low's mean to 0 and high's to 1 on
    every mission for the ALL rows."""
    from daf.api.evaluation import evaluate

    specs = dict(policies) if isinstance(policies, Mapping) else {spec: spec for spec in policies}
    if not isinstance(policies, Mapping) and len(specs) != len(policies):
        raise UserError(f"policies {list(policies)} list a policy twice")
    if not specs or not missions:
        raise UserError("compare needs at least one policy and one mission")
    if normalize is not None:
        absent = [p for p in normalize if p not in specs]
        if absent:
            raise UserError(f"normalize policy '{absent[0]}' is not compared; policies: {', '.join(specs)}")
    settings = _settings(confidence=confidence, reps=reps, seed=seed, interval=interval, alpha=alpha,
                         correction=correction, normalize=tuple(normalize) if normalize else None)  # fmt: skip
    frames = [
        evaluate(spec, mission, episodes, seed, label=name, num_envs=num_envs, device=device)
        for name, spec in specs.items()
        for mission in missions
    ]
    result = Comparison.from_tables(pd.concat(frames, ignore_index=True), specs, **settings.__dict__)
    return Comparison(result.evals, result.leaderboard, result.pairwise, result.profiles, result.settings, specs,
                      episodes, seed)  # fmt: skip


def gate(
    evals: pd.DataFrame | Sequence[str | Path],
    candidate: str,
    incumbent: str,
    *,
    margin: float = 0.0,
    test: str = "superiority",
    confidence: float = 0.95,
    missions: Sequence[str] | None = None,
) -> GateResult:
    """The promotion gate (daf.stats.gate): does `candidate` beat `incumbent` (superiority:
    the CI of A - B above `margin` on every mission) or at least not lose by more than `margin`
    (non-inferiority)? `.passed`, `.verdict()`, `.missions` (one row per mission)."""
    from daf.stats.gate import gate as decide

    settings = GateSettings(test=test, margin=float(margin), confidence=float(confidence),
                            missions=tuple(missions) if missions else None)  # fmt: skip
    return decide(_as_table(evals), candidate, incumbent, settings)


def _as_table(evals: pd.DataFrame | Sequence[str | Path]) -> pd.DataFrame:
    if isinstance(evals, pd.DataFrame):
        return evals
    from daf.io import read_parquets

    if isinstance(evals, (str, Path)):
        evals = [evals]
    return read_parquets(list(evals))


def _settings(**values) -> CompareSettings:
    known = set(CompareSettings.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        from daf.errors import unknown_choice

        raise unknown_choice("comparison setting", unknown[0], known)
    if values.get("normalize") is not None:
        values["normalize"] = tuple(values["normalize"])
    if "trained" in values:
        values["trained"] = tuple(values["trained"])
    return CompareSettings(**values)

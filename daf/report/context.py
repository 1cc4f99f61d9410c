"""The template context: what `report.html.j2` and its sections show, built from the
`ReportInputs` the readers return.

One function per report section returns that section's variables; `build_context` merges
them. Figures are drawn here (by `daf.report.figures`), tables become lists of row dicts.
"""

from __future__ import annotations

import pandas as pd
import yaml

from daf.config.load import config_hash
from daf.config.study import StudyConfig
from daf.config.training import TrainConfig
from daf.missions import get_mission, mission_id
from daf.report import figures, heatmaps, population_figures, sweep_figures, training_figures
from daf.report.findings import LEVELS, findings
from daf.report.readers import ReportInputs, train_run_label
from daf.stats.planning import smallest_designs
from daf.stats.scores import ALL

CORRECTIONS = {"holm": "Holm", "bh": "Benjamini-Hochberg"}


def build_context(inputs: ReportInputs) -> dict:
    """Every variable the templates use, drawing the figures in the order the page shows them."""
    trained_on = _trained_on(inputs)
    return {
        **comparison_context(inputs),
        "plan": plan_context(inputs.plan),
        **vor_context(inputs),
        **crossplay_context(inputs),
        **population_context(inputs),
        **training_context(inputs, trained_on),
        **analysis_context(inputs),
        "replays": inputs.replays,
        "sweeps": [sweep_context(sweep, inputs.study) for sweep in inputs.sweeps],
        "variants": [variant_context(name, table, inputs.study.compare.confidence) for name, table in inputs.variants],
        **study_context(inputs),
        "benchmarks": inputs.benchmarks,
        "provenance": provenance(inputs),
    }


# --- summary, leaderboard, pairwise --------------------------------------------------------


def comparison_context(inputs: ReportInputs) -> dict:
    """The page header, Summary, Leaderboard and Pairwise sections."""
    study, board, pairwise = inputs.study, inputs.board, inputs.pairwise
    confidence = study.compare.confidence
    # ALL rows are normalised when the study names a normalisation (low, high) pair
    normalized = bool(board.loc[board["mission"] == ALL, "normalized"].any())
    per_mission = board[board["mission"] != ALL]
    overall = board[board["mission"] == ALL].sort_values("mean", ascending=False)
    return {
        "title": study.report.title,
        "confidence": confidence,
        "alpha": study.compare.alpha,
        "correction": CORRECTIONS[study.compare.correction],
        "interval": study.compare.interval,
        "normalization": study.compare.normalization,
        "normalized": normalized,
        "overall": overall.to_dict("records"),
        "board": per_mission.to_dict("records"),
        "missions": sorted(per_mission["mission"].unique()),
        "figure": figures.leaderboard_figure(board, confidence, "normalised score" if normalized else "mean score"),
        "poi_figure": figures.poi_figure(pairwise, sorted(board["policy"].unique())),
        "profile_figure": figures.profile_figure(inputs.profiles, normalized),
        "pairwise": pairwise.to_dict("records"),
        "findings": findings(inputs.board, pairwise, study.compare.alpha),
        "levels": LEVELS,
    }


def plan_context(plan: dict | None) -> dict | None:
    """`daf plan`'s JSON as the report's tables: per policy x mission (precision) and per pair x
    mission x test (power) the smallest design that reaches the target, else the largest tried."""
    if plan is None:
        return None

    settings = plan.get("settings", {})
    precision, power = plan.get("precision") or [], plan.get("power") or []
    return {
        "precision": smallest_designs(pd.DataFrame.from_records(precision), ["policy", "mission"]) if precision else [],
        "power": smallest_designs(pd.DataFrame.from_records(power), ["policy_a", "policy_b", "mission", "test"])
        if power
        else [],
        "lines": plan.get("summary", []),
        "alpha": settings.get("alpha", 0.05),
        "half_width": settings.get("half_width"),
        "power_target": settings.get("power", 0.8),
    }


def vor_context(inputs: ReportInputs) -> dict:
    """The VOR section (empty `vor` hides it)."""
    return {"vor": inputs.vor, "vor_figure": figures.vor_figure(inputs.vor, inputs.study.compare.confidence)}


def crossplay_context(inputs: ReportInputs) -> dict:
    """The Cross-play section (an empty `crossplay` hides it): per mission, in the order of the
    tables, a heat map per split, the mission's gap rows and the cells that were skipped."""
    cells, gaps = inputs.crossplay, inputs.crossplay_gaps
    if cells.empty:
        return {"crossplay": []}
    missions = []
    for mission in dict.fromkeys(cells["mission"]):
        part = cells[cells["mission"] == mission]
        splits = part["split"].astype(str)
        skipped: dict[tuple, list[str]] = {}  # (A, B, note) -> its splits, so a pair skipped everywhere is one line
        for r in part[part["note"].fillna("") != ""].itertuples():
            skipped.setdefault((r.policy_a, r.policy_b, r.note), []).append(str(r.split))
        missions.append(
            {
                "mission": mission,
                "num_agents": int(part["num_agents"].iloc[0]),
                "heatmaps": [heatmaps.crossplay_heatmap(part[splits == split]) for split in dict.fromkeys(splits)],
                "gaps": gaps[gaps["mission"] == mission].to_dict("records") if not gaps.empty else [],
                "skipped": [
                    {"policy_a": a, "policy_b": b, "splits": ", ".join(s), "note": note}
                    for (a, b, note), s in skipped.items()
                ],
            }
        )
    return {"crossplay": missions}


def population_context(inputs: ReportInputs) -> dict:
    """The Population section (hidden when there is neither a Nash nor an α-Rank table)."""
    confidence = inputs.study.compare.confidence
    nash, ranked = inputs.nash, inputs.alpharank
    out = {"nash": None, "alpharank": []}
    if not nash.empty:
        policies = nash[nash["kind"] == "policy"].sort_values(["rank_nash", "name"])
        missions = nash[nash["kind"] == "mission"].sort_values(["rank_nash", "name"])
        out["nash"] = {
            "policies": policies.to_dict("records"),
            "missions": missions.to_dict("records"),
            "value": float(nash["game_value"].iloc[0]),
            "scale": str(nash["scale"].iloc[0]),
            "figure": population_figures.nash_figure(nash, confidence),
            "differs": ranking_difference(policies),
        }
    for (mission, split), part in ranked.groupby(["mission", "split"], sort=False) if not ranked.empty else ():
        part = part.sort_values(["rank", "policy"])
        out["alpharank"].append({
            "mission": mission, "split": split, "agents_a": int(part["agents_a"].iloc[0]),
            "alpha": float(part["alpha"].iloc[0]), "alpha_source": part["alpha_source"].iloc[0],
            "population_size": int(part["population_size"].iloc[0]), "payoff": part["payoff"].iloc[0],
            "selection": part["selection"].iloc[0],
            "rows": part.to_dict("records"), "figure": population_figures.alpharank_figure(part, confidence),
            "top_by_self_play": part.sort_values("self_play", ascending=False)["policy"].iloc[0],
        })  # fmt: skip
    return out


def ranking_difference(policies: pd.DataFrame) -> list[str]:
    """Where the Nash ranking and the mean-over-missions ranking disagree, one sentence per
    policy whose rank moves (empty when they agree)."""
    return [
        f"{r.name}: rank {r.rank_nash} by Nash averaging, {r.rank_uniform} by the mean over missions"
        for r in policies.itertuples()
        if r.rank_nash != r.rank_uniform
    ]


# --- training --------------------------------------------------------------------------------


def _trained_on(inputs: ReportInputs) -> dict[str, list[str]]:
    """Run label -> ids of the missions its policy trains on (none for a policy the study
    does not train, e.g. a log passed by hand)."""
    out = {}
    for label in inputs.logs:
        settings = _train_config(inputs.study, train_run_label(inputs.log_paths[label])[1])
        out[label] = [mission_id(m) for m in settings.mission_names()] if settings else []
    return out


def _train_config(study: StudyConfig, policy: str) -> TrainConfig | None:
    """A policy's `train:` settings, None for a log of a policy the study does not train."""
    config = study.policies.get(policy)
    return config.train if config is not None else None


def training_context(inputs: ReportInputs, trained_on: dict[str, list[str]]) -> dict:
    """The Training section and its Learning curves (empty `training` hides both)."""
    confidence = inputs.study.compare.confidence
    return {
        "training_figure": training_figures.training_figure(inputs.logs),
        "mission_curves_figure": training_figures.mission_curves_figure(inputs.logs, trained_on),
        "curves_figure": training_figures.sample_efficiency_figure(inputs.curve_summary, confidence),
        "final_vs_best": inputs.final_vs_best.to_dict("records"),
        "final_vs_best_columns": list(inputs.final_vs_best.columns),
        "training": [_training_row(inputs, label, log, trained_on) for label, log in sorted(inputs.logs.items())],
    }


def _training_row(inputs: ReportInputs, label: str, log: pd.DataFrame, trained_on: dict) -> dict:
    """One training run's line of the Training table."""
    settings = _train_config(inputs.study, train_run_label(inputs.log_paths[label])[1])
    rewarded = log["episode_reward"].notna().any()
    return {
        "policy": label,
        "missions": ", ".join(trained_on.get(label, [])),
        "shaping": shaping_text(inputs.sidecars.get(label), settings),
        "updates": len(log),
        "steps": int(log["agent_steps"].iloc[-1]),
        "final_reward": float(log["episode_reward"].dropna().iloc[-5:].mean()) if rewarded else float("nan"),
        "seconds": float(log["wall_seconds"].iloc[-1]),
        "sps": float(log["sps"].median()),
    }


def shaping_text(sidecar: dict | None, settings: TrainConfig | None) -> str:
    """The shaping a run trained with, as its checkpoint sidecar recorded it (a preset resolved
    to its terms); the config's explicit terms where no sidecar sits beside the log."""
    if sidecar is not None:
        preset, terms = sidecar.get("preset"), sidecar.get("shaping") or {}
    else:
        preset, terms = (settings.preset, settings.shaping) if settings else (None, {})
    text = ", ".join(f"{k}={v:g}" for k, v in sorted(terms.items()))
    if preset:
        return f"preset {preset}: {text}" if text else f"preset {preset}"
    return text


# --- mission analysis, sweeps, variants ------------------------------------------------------


def analysis_context(inputs: ReportInputs) -> dict:
    """The Mission analysis section (an empty `analysis` hides it)."""
    return {
        "analysis": inputs.analysis.to_dict("records"),
        "outcomes_figure": figures.outcomes_figure(inputs.analysis),
        "difficulty": inputs.difficulty.to_dict("records"),
    }


def sweep_context(sweep: dict, study: StudyConfig) -> dict:
    """One sweep of the Sweeps section, from `readers.read_sweep`'s dict."""
    name, table, summary = sweep["name"], sweep["trials"], sweep["summary"]
    config = study.sweeps.get(name)  # None for a sweep directory the study does not define
    spaces = {k: v.model_dump() for k, v in config.space.items()} if config else {}
    params = [c for c in table.columns if c.startswith("param.")]
    return {
        "name": name,
        "summary": summary,
        "policy": config.policy if config else "",
        "seeds": config.seeds if config else [],
        "params": [c.removeprefix("param.") for c in params],
        "trials": [dict(r, values=[r[c] for c in params]) for r in table.to_dict("records")],
        "importance": sweep["importance"].to_dict("records"),
        "best": sweep["best"],
        "top": sweep["top"].to_dict("records"),
        "objective_figure": sweep_figures.sweep_objective_figure(table, spaces, summary["metric"]),
        "parallel_figure": sweep_figures.parallel_coordinates_figure(table, spaces),
        "history_figure": sweep_figures.sweep_history_figure(table, summary["direction"], summary["metric"]),
    }


def variant_context(name: str, table: pd.DataFrame, confidence: float) -> dict:
    """One table of the Mission variants section."""
    return {"name": name, "rows": table.to_dict("records"), "figure": figures.variants_figure(table, confidence)}


# --- missions, policies, provenance -----------------------------------------------------------


def study_context(inputs: ReportInputs) -> dict:
    """The Missions and policies section: the study's missions, policies and what was played."""
    study, evals = inputs.study, inputs.evals
    # a table without a `run` column is one training run (run 0)
    played = evals.assign(run=evals.get("run", 0)).groupby(["mission", "policy"])
    return {
        "missions_table": [get_mission(m).summary() | {"id": mid} for mid, m in study.mission_by_id().items()],
        "policies": [
            {"name": n, "spec": study.policy_spec(n), "description": p.description} for n, p in study.policies.items()
        ],
        "per_episode": played.agg(runs=("run", "nunique"), episodes=("episode", "nunique"), agents=("agent", "nunique"))
        .reset_index()
        .to_dict("records"),
    }


def provenance(inputs: ReportInputs) -> dict:
    """The Provenance section: what made the report and how to make it again."""
    study = inputs.study
    return {
        "config_path": inputs.config_path,
        "config_hash": config_hash(study),
        "config_text": yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False),
        "git_commit": inputs.git_commit,
        "versions": inputs.versions,
        "seed": study.evaluation.seed,
        "episodes": study.evaluation.episodes,
        "command": inputs.command,
    }

"""The self-contained HTML report (jinja2, autoescaped; plots are inline SVG).

Everything the report shows is read from the config and the result files, so
`snakemake report` (or deleting `results/report/` and rerunning) regenerates it byte
for byte: no timestamps, deterministic SVG ids.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from daf.comparison import LEADERBOARD, PAIRWISE
from daf.config import config_hash, load_study
from daf.errors import UserError
from daf.io import git_commit, package_versions, read_parquets, write_text
from daf.missions import get_mission, mission_id
from daf.stats import ALL

COLORS = ["#1f4e79", "#c0504d", "#4f8a3c", "#8064a2", "#d08a1e", "#2c9fa5", "#7f7f7f", "#b5527f", "#4a6fa5", "#9c7a3c"]


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("daf.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["pct"] = lambda x: "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.0f}%"
    env.filters["pval"] = _pval
    return env


def _num(x, digits: int = 3):
    if x is None:
        return "–"
    if isinstance(x, (float, np.floating)):
        if np.isnan(x):
            return "–"
        if np.isinf(x):
            return "∞" if x > 0 else "−∞"
        if abs(x) < 1e-9:  # floating-point dust of a normalised 0
            x = 0.0
        return f"{x:.{digits}g}"
    return x


def _pval(p) -> str:
    if p is None or (isinstance(p, float) and np.isnan(p)):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _svg(fig) -> Markup:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    # No <metadata> block (dates, RDF links): deterministic, and no URLs besides XML namespaces.
    no_metadata = {"Date": None, "Creator": None, "Format": None, "Type": None}
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata=no_metadata)
    plt.close(fig)
    text = buf.getvalue()
    return Markup(text[text.index("<svg") :])  # drop the XML prolog and doctype


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "daf-report"  # deterministic element ids
    import matplotlib.pyplot as plt

    return plt


def leaderboard_figure(board: pd.DataFrame, confidence: float, ylabel: str) -> Markup:
    """One panel per mission (and ALL): mean episode score per policy with its CI."""
    plt = _pyplot()
    missions = list(dict.fromkeys(board["mission"]))
    cols = min(3, len(missions))
    rows = -(-len(missions) // cols)
    n_policies = board["policy"].nunique()
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, (0.42 * n_policies + 1.4) * rows), squeeze=False)
    for ax in axes.flat[len(missions) :]:
        ax.set_visible(False)
    for ax, mission in zip(axes.flat, missions):
        part = board[board["mission"] == mission].sort_values("mean", ascending=False)
        y = range(len(part))
        means = part["mean"].to_numpy()
        err = [means - part["ci_low"].to_numpy(), part["ci_high"].to_numpy() - means]
        ax.errorbar(means, y, xerr=err, fmt="o", capsize=3, color=COLORS[0])
        ax.set_yticks(list(y), list(part["policy"]))
        ax.invert_yaxis()
        ax.set_title(mission if mission != ALL else f"ALL ({ylabel})", fontsize=10)
        ax.set_xlabel("mean reward per agent per episode" if mission != ALL else ylabel)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Mean episode score with {confidence:.0%} bootstrap CI", fontsize=11)
    fig.tight_layout()
    return _svg(fig)


def poi_figure(pairwise: pd.DataFrame, policies: list[str]) -> Markup | None:
    """Heat map of P(row > column) across missions (the ALL rows)."""
    rows = pairwise[(pairwise["mission"] == ALL)].drop_duplicates(["policy_a", "policy_b"])
    if rows.empty:
        return None
    plt = _pyplot()
    n = len(policies)
    matrix = np.full((n, n), np.nan)
    index = {p: i for i, p in enumerate(policies)}
    for r in rows.itertuples():
        i, j = index[r.policy_a], index[r.policy_b]
        matrix[i, j], matrix[j, i] = r.poi, 1 - r.poi
    fig, ax = plt.subplots(figsize=(1.0 * n + 2.2, 0.8 * n + 1.2))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="RdBu")
    for i in range(n):
        for j in range(n):
            if not np.isnan(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=9,
                        color="white" if abs(matrix[i, j] - 0.5) > 0.3 else "black")  # fmt: skip
    ax.set_xticks(range(n), policies, rotation=45, ha="right")
    ax.set_yticks(range(n), policies)
    ax.set_title("P(row policy scores higher than column policy), averaged over shared missions", fontsize=10)
    fig.colorbar(image, ax=ax, label="probability of improvement")
    fig.tight_layout()
    return _svg(fig)


def profile_figure(profiles: pd.DataFrame, normalized: bool) -> Markup | None:
    part = profiles[profiles["mission"] == ALL]
    if part.empty:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for color, (policy, curve) in zip(COLORS * 10, part.groupby("policy", sort=True)):
        ax.plot(curve["tau"], curve["fraction"], label=policy, color=color)
        ax.fill_between(curve["tau"], curve["low"], curve["high"], color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel("score threshold τ" + (" (normalised score)" if normalized else " (reward per agent)"))
    ax.set_ylabel("fraction of episodes with score > τ")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Performance profiles over all missions, with bootstrap CI bands", fontsize=10)
    fig.tight_layout()
    return _svg(fig)


def vor_figure(results: list[dict], confidence: float) -> Markup | None:
    if not results:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    offset = np.linspace(-0.12, 0.12, max(1, sum(len(r["missions"]) for r in results)))
    line = 0
    for result in results:
        for mission, data in result["missions"].items():
            ks = np.array([row["k"] for row in data["per_k"]], dtype=float)
            vors = np.array([row["vor"] for row in data["per_k"]])
            err = [vors - [row["ci_low"] for row in data["per_k"]], [row["ci_high"] for row in data["per_k"]] - vors]
            ax.errorbar(ks + offset[line], vors, yerr=err, fmt="o-", capsize=3, color=COLORS[line % len(COLORS)],
                        label=f"{result['candidate']} on {mission}")  # fmt: skip
            line += 1
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("k = agents the candidate controls")
    ax.set_ylabel("VOR_k (reward per agent over the replacement)")
    ax.set_title(f"VOR vs k, {confidence:.0%} bootstrap CI", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _svg(fig)


def training_figure(logs: dict[str, pd.DataFrame]) -> Markup | None:
    """Per trained policy: episode reward (rolling mean with a 95% band), losses, entropy,
    explained variance and throughput against agent-steps."""
    if not logs:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    for color, (policy, log) in zip(COLORS * 10, sorted(logs.items())):
        steps = log["agent_steps"].to_numpy()
        ended = log.dropna(subset=["episode_reward"])  # updates in which episodes ended
        reward, at = ended["episode_reward"], ended["agent_steps"].to_numpy()
        window = max(3, len(ended) // 15)
        mean = reward.rolling(window, min_periods=1).mean()
        sem = (
            reward.rolling(window, min_periods=2).std() / np.sqrt(reward.rolling(window, min_periods=1).count())
        ).fillna(0)
        axes[0].plot(at, reward, ".", color=color, alpha=0.35, markersize=4)
        axes[0].plot(at, mean, color=color, label=policy)
        axes[0].fill_between(at, mean - 1.96 * sem, mean + 1.96 * sem, color=color, alpha=0.2)
        axes[1].plot(steps, log["policy_loss"], color=color, label=f"{policy} policy")
        axes[1].plot(steps, log["value_loss"], color=color, linestyle="--", label=f"{policy} value")
        axes[2].plot(steps, log["entropy"], color=color, label=f"{policy} entropy")
        axes[2].plot(steps, log["explained_variance"], color=color, linestyle=":", label=f"{policy} expl. var.")
        axes[3].plot(steps, log["sps"], color=color, label=policy)
    titles = [
        ("mean episode reward per agent", "reward per agent (rolling mean, 95% band)"),
        ("losses", "loss"),
        ("entropy and explained variance", "nats / fraction"),
        ("throughput", "agent-steps per second"),
    ]
    for ax, (title, ylabel) in zip(axes, titles):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("agent-steps")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _svg(fig)


def sample_efficiency_figure(summary: pd.DataFrame, confidence: float) -> Markup | None:
    """One panel per mission (and ALL): score of the periodic checkpoints against agent-steps,
    a line per policy with a CI band over training runs (rliable's sample-efficiency curve:
    the mean per mission, the IQM of normalised scores for ALL)."""
    if summary.empty:
        return None
    plt = _pyplot()
    missions = sorted(m for m in summary["mission"].unique() if m != ALL) + (
        [ALL] if (summary["mission"] == ALL).any() else []
    )
    cols = min(4, len(missions))
    rows = -(-len(missions) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.3 * rows), squeeze=False)
    for ax, mission in zip(axes.flat, missions):
        key, low, high = ("iqm", "iqm_low", "iqm_high") if mission == ALL else ("mean", "ci_low", "ci_high")
        part = summary[summary["mission"] == mission]
        for color, (policy, line) in zip(COLORS * 10, part.groupby("policy", sort=True)):
            line = line.sort_values("agent_steps")
            runs = int(line["runs"].max())
            ax.plot(line["agent_steps"], line[key], "o-", color=color, markersize=3, label=f"{policy} ({runs} runs)")
            ax.fill_between(line["agent_steps"], line[low], line[high], color=color, alpha=0.2)
        ax.set_title("ALL (normalised IQM)" if mission == ALL else mission, fontsize=10)
        ax.set_xlabel("agent-steps")
        ax.set_ylabel("normalised score" if mission == ALL else "mean reward per agent")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(missions) :]:
        ax.axis("off")
    fig.suptitle(f"Sample efficiency: periodic checkpoints, {confidence:.0%} CI over training runs", fontsize=11)
    fig.tight_layout()
    return _svg(fig)


def best_per_mission(per_mission: pd.DataFrame) -> list[dict]:
    """Per mission the best policy's row and `clear`: True when its CI lies above the
    runner-up's, False when they overlap, None when no other policy played the mission."""
    best = []
    for mission, part in per_mission.groupby("mission", sort=True):
        ranked = part.sort_values(["mean", "policy"], ascending=[False, True])
        top, runner = ranked.iloc[0], ranked.iloc[1:2]
        clear = None if runner.empty else bool(float(runner["ci_high"].iloc[0]) < float(top["ci_low"]))
        best.append({"mission": mission, "row": top.to_dict(), "clear": clear})
    return best


def _read_curves(paths: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, final-vs-best) tables of `daf curves-summary`, empty when not given."""
    tables = {Path(p).stem: p for p in paths}
    out = []
    for name in ("summary", "final_vs_best"):
        path = tables.get(name)
        if paths and path is None:
            raise UserError(f"--curves lacks {name}.parquet (got {', '.join(paths)})")
        if path is not None and not Path(path).is_file():
            raise UserError(f"curve table '{path}' does not exist (the `curves_summary` rule makes it)")
        out.append(pd.read_parquet(path) if path else pd.DataFrame())
    return out[0], out[1]


def mission_reward_series(log: pd.DataFrame, missions: list[str]) -> dict[str, pd.DataFrame]:
    """Mission -> (agent_steps, episode_reward) of the updates in which its episodes ended:
    `episode_reward/<mission>` columns of a multi-mission run, `episode_reward` otherwise."""
    out = {}
    for mission in missions:
        column = f"episode_reward/{mission}" if len(missions) > 1 else "episode_reward"
        if column in log:
            ended = log.dropna(subset=[column])
            out[mission] = pd.DataFrame({"agent_steps": ended["agent_steps"], "reward": ended[column]})
    return out


def mission_curves_figure(logs: dict[str, pd.DataFrame], trained_on: dict[str, list[str]]) -> Markup | None:
    """One panel per training mission: each policy's episode reward on it (the mission's
    own reward, shaping excluded) against agent-steps, rolling mean."""
    series = {p: mission_reward_series(log, trained_on.get(p, [])) for p, log in logs.items()}
    missions = sorted({m for per in series.values() for m in per})
    if not missions:
        return None
    plt = _pyplot()
    cols = min(4, len(missions))
    rows = -(-len(missions) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.3 * rows), squeeze=False)
    for ax, mission in zip(axes.flat, missions):
        for color, policy in zip(COLORS * 10, sorted(series)):
            data = series[policy].get(mission)
            if data is None or data.empty:
                continue
            window = max(3, len(data) // 15)
            ax.plot(data["agent_steps"], data["reward"], ".", color=color, alpha=0.3, markersize=3)
            ax.plot(data["agent_steps"], data["reward"].rolling(window, min_periods=1).mean(), color=color,
                    label=policy)  # fmt: skip
        ax.set_title(mission, fontsize=10)
        ax.set_xlabel("agent-steps")
        ax.set_ylabel("episode reward per agent")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(missions) :]:
        ax.axis("off")
    fig.tight_layout()
    return _svg(fig)


def outcomes_figure(summary: pd.DataFrame) -> Markup | None:
    """Stacked bars: fraction of episodes per outcome, for every policy x mission."""
    from daf.analysis import OUTCOMES

    if summary.empty:
        return None
    plt = _pyplot()
    labels = [f"{r.policy} · {r.mission}" for r in summary.itertuples()]
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(labels) + 1.2))
    left = np.zeros(len(summary))
    colors = {"success": "#4f8a3c", "stuck": "#7f7f7f", "resource_starved": "#d08a1e", "no_reward": "#c0504d",
              "timeout": "#4a6fa5"}  # fmt: skip
    for outcome in OUTCOMES:
        values = summary[f"{outcome}_fraction"].to_numpy()
        ax.barh(labels, values, left=left, color=colors[outcome], label=outcome.replace("_", " "))
        left += values
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("fraction of episodes")
    ax.set_title("Episode outcomes per policy and mission", fontsize=10)
    ax.legend(fontsize=8, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.4 / max(1, len(labels) ** 0.5)))
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return _svg(fig)


def sweep_objective_figure(table: pd.DataFrame, spaces: dict, metric: str) -> Markup | None:
    """Objective vs each hyperparameter (completed trials; failed and pruned ones as marks on
    the axis), log-scaled where the search space is."""
    params = [c for c in table.columns if c.startswith("param.")]
    if not params:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(params), figsize=(3.6 * len(params), 3.2), squeeze=False)
    done = table[table["status"] == "completed"]
    others = table[table["status"] != "completed"]
    for ax, column in zip(axes.flat, params):
        name = column.removeprefix("param.")
        x_done, x_other = _axis_values(done[column], table[column]), _axis_values(others[column], table[column])
        ax.scatter(x_done, done["objective"], color=COLORS[0], s=22, label="completed")
        if len(others):
            floor = float(done["objective"].min()) if len(done) else 0.0
            marks = ["x" if st == "failed" else "v" for st in others["status"]]
            for x, mark in zip(x_other, marks):
                ax.scatter([x], [floor], marker=mark, color=COLORS[1], s=30)
        space = spaces.get(name)
        if space is not None and space.get("log"):
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks overlap
        if not pd.api.types.is_numeric_dtype(table[column]) or pd.api.types.is_bool_dtype(table[column]):
            labels = sorted(map(str, table[column].unique()))
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes.flat[0].set_ylabel(f"objective ({metric})")
    fig.suptitle("Objective vs each hyperparameter (× failed, ▼ pruned, drawn at the lowest score)", fontsize=10)
    fig.tight_layout()
    return _svg(fig)


def _axis_values(values: pd.Series, everything: pd.Series) -> np.ndarray:
    """Numbers stay numbers; choices become positions 0..n-1 (sorted by their text)."""
    if pd.api.types.is_numeric_dtype(everything) and not pd.api.types.is_bool_dtype(everything):
        return values.to_numpy(dtype=np.float64)
    labels = sorted(map(str, everything.unique()))
    return np.array([labels.index(str(v)) for v in values], dtype=np.float64)


def parallel_coordinates_figure(table: pd.DataFrame, spaces: dict) -> Markup | None:
    """One line per completed trial across the hyperparameter axes (each scaled to 0..1,
    log where the space is), coloured by the objective; the last axis is the objective."""
    done = table[table["status"] == "completed"]
    params = [c for c in table.columns if c.startswith("param.")]
    if len(done) < 2 or not params:
        return None
    plt = _pyplot()
    columns, ticks = [], []
    for column in params:
        x = _axis_values(done[column], table[column])
        full = _axis_values(table[column], table[column])
        space = spaces.get(column.removeprefix("param."), {})
        if space.get("log") and (full > 0).all():
            x, full = np.log10(x), np.log10(full)
        low, high = float(np.min(full)), float(np.max(full))
        columns.append((x - low) / (high - low) if high > low else np.full(len(x), 0.5))
        ticks.append(column.removeprefix("param."))
    y = done["objective"].to_numpy(dtype=np.float64)
    columns.append((y - y.min()) / np.ptp(y) if np.ptp(y) > 0 else np.full(len(y), 0.5))
    ticks.append("objective")
    data = np.stack(columns, axis=1)
    fig, ax = plt.subplots(figsize=(1.6 * len(ticks) + 2, 3.8))
    cmap = plt.get_cmap("viridis")
    shade = columns[-1]
    for row, c in sorted(zip(data, shade), key=lambda pair: pair[1]):  # best drawn last, on top
        ax.plot(range(len(ticks)), row, color=cmap(c), alpha=0.85, linewidth=1.4)
    ax.set_xticks(range(len(ticks)), ticks, rotation=20)
    ax.set_yticks([0, 1], ["low", "high"])
    for i in range(len(ticks)):
        ax.axvline(i, color="#999", linewidth=0.8)
    ax.set_title("Parallel coordinates of completed trials (colour: objective)", fontsize=10)
    fig.tight_layout()
    return _svg(fig)


def sweep_history_figure(table: pd.DataFrame, direction: str, metric: str) -> Markup | None:
    """Objective by trial order with the best so far (how fast the search found it)."""
    done = table[table["status"] == "completed"].sort_values("order")
    if len(done) < 2:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    y = done["objective"].to_numpy(dtype=np.float64)
    best = np.maximum.accumulate(y) if direction == "maximize" else np.minimum.accumulate(y)
    ax.scatter(done["order"], y, color=COLORS[0], s=20, label="trial")
    ax.step(done["order"], best, where="post", color=COLORS[1], label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial (in the order proposed)")
    ax.set_ylabel(f"objective ({metric})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Search history", fontsize=10)
    fig.tight_layout()
    return _svg(fig)


def variants_figure(table: pd.DataFrame, confidence: float) -> Markup:
    """Mean score per mission variant, a line per policy, with CIs."""
    plt = _pyplot()
    missions = list(dict.fromkeys(table["mission"]))
    fig, ax = plt.subplots(figsize=(max(5.5, 1.3 * len(missions) + 2), 3.8))
    policies = sorted(table["policy"].unique())
    offsets = np.linspace(-0.12, 0.12, len(policies)) if len(policies) > 1 else [0.0]
    for color, offset, policy in zip(COLORS * 10, offsets, policies):
        part = table[table["policy"] == policy].set_index("mission").reindex(missions)
        x = np.arange(len(missions)) + offset
        mean = part["mean"].to_numpy(dtype=np.float64)
        err = [mean - part["ci_low"].to_numpy(dtype=np.float64), part["ci_high"].to_numpy(dtype=np.float64) - mean]
        ax.errorbar(x, mean, yerr=err, fmt="o", capsize=3, color=color, label=policy)  # variants are categories
    ax.set_xticks(range(len(missions)), missions, rotation=20)
    ax.set_ylabel("mean reward per agent per episode")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Across mission variants, {confidence:.0%} bootstrap CI", fontsize=10)
    fig.tight_layout()
    return _svg(fig)


def _read_sweeps(directories: list[str], study) -> list[dict]:
    sweeps = []
    for directory in directories:
        path = Path(directory)
        name = path.name
        for needed in ("trials.parquet", "importance.parquet", "summary.json", "best.json", "top.parquet"):
            if not (path / needed).is_file():
                raise UserError(f"sweep result '{path / needed}' does not exist (the sweep rules make it)")
        table = pd.read_parquet(path / "trials.parquet")
        config = study.sweeps.get(name)
        spaces = {k: v.model_dump() for k, v in config.space.items()} if config else {}
        summary = json.loads((path / "summary.json").read_text())
        params = [c for c in table.columns if c.startswith("param.")]
        sweeps.append({
            "name": name,
            "summary": summary,
            "policy": config.policy if config else "",
            "seeds": config.seeds if config else [],
            "params": [c.removeprefix("param.") for c in params],
            "trials": [dict(r, values=[r[c] for c in params]) for r in table.to_dict("records")],
            "importance": pd.read_parquet(path / "importance.parquet").to_dict("records"),
            "best": json.loads((path / "best.json").read_text()),
            "top": pd.read_parquet(path / "top.parquet").to_dict("records"),
            "objective_figure": sweep_objective_figure(table, spaces, summary["metric"]),
            "parallel_figure": parallel_coordinates_figure(table, spaces),
            "history_figure": sweep_history_figure(table, summary["direction"], summary["metric"]),
        })  # fmt: skip
    return sweeps


def _read_variants(paths: list[str], confidence: float) -> list[dict]:
    variants = []
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"variant table '{path}' does not exist (the `variants` rule makes it)")
        table = pd.read_parquet(path)
        variants.append({"name": Path(path).stem, "rows": table.to_dict("records"),
                         "figure": variants_figure(table, confidence)})  # fmt: skip
    return variants


def read_benchmarks(directory: str | Path | None, logs_dir: str | Path | None = None) -> list[dict]:
    """Snakemake `benchmark:` TSVs: seconds and peak memory per job, joined with the job's
    structured log (`daf --log-json`): its status and key metrics.

    The report's own benchmark is left out: it describes the previous report build, and
    showing it would make a regenerated report differ from the first.
    """
    if not directory or not Path(directory).is_dir():
        return []
    from daf.logs import job_summaries

    logs = job_summaries(logs_dir) if logs_dir else {}
    rows = []
    for path in sorted(Path(directory).rglob("*.tsv")):
        if path.name == "report.tsv" and path.parent == Path(directory):
            continue
        with path.open() as handle:
            for record in csv.DictReader(handle, delimiter="\t"):
                rows.append(
                    {
                        "job": str(path.relative_to(directory).with_suffix("")),
                        "seconds": float(record.get("s", "nan")),
                        "max_rss_mb": float(record.get("max_rss", "nan") or "nan"),
                        **_log_fields(logs.get(str(path.relative_to(directory).with_suffix("")))),
                    }
                )
    return rows


def _log_fields(end: dict | None) -> dict:
    if end is None:
        return {"status": "", "metrics": ""}
    metrics = end.get("metrics") or {}

    def fmt(v):
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 1000 else _num(v)
        return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v

    shown = ", ".join(f"{k} {fmt(v)}" for k, v in sorted(metrics.items()) if v is not None)
    return {"status": end.get("status", ""), "metrics": shown or end.get("error", "")}


def _read_table(directory: Path, name: str, columns: list[str]) -> pd.DataFrame:
    path = directory / f"{name}.parquet"
    if not path.is_file():
        raise UserError(f"comparison table '{path}' does not exist (the `compare` rule / `daf compare` makes it)")
    table = pd.read_parquet(path)
    if columns and list(table.columns) != columns:
        raise UserError(f"'{path}' is not a `daf compare` {name} table (columns {list(table.columns)})")
    return table


def _read_vor(paths: list[str]) -> list[dict]:
    results = []
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"VOR result '{path}' does not exist (the `vor` rule / `daf vor` makes it)")
        results.append(json.loads(Path(path).read_text()))
    return results


def _read_analysis(directory: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    from daf.analysis import SUMMARY_COLUMNS

    if directory is None:
        return pd.DataFrame(columns=SUMMARY_COLUMNS), pd.DataFrame()
    summary = Path(directory) / "summary.parquet"
    if not summary.is_file():
        raise UserError(f"mission analysis '{summary}' does not exist (the `analysis_summary` rule makes it)")
    return pd.read_parquet(summary), pd.read_parquet(Path(directory) / "difficulty.parquet")


def _train_config(study, policy: str):
    """A policy's `train:` settings, None for a log of a policy the study does not train."""
    config = study.policies.get(policy)
    return config.train if config is not None else None


def _shaping_text(log_path: str, settings) -> str:
    """The shaping a run trained with, as its checkpoint sidecar recorded it (a preset resolved
    to its terms); the config's explicit terms where no sidecar sits beside the log."""
    sidecar_path = Path(log_path).parent / "model.json"
    if sidecar_path.is_file():
        sidecar = json.loads(sidecar_path.read_text())
        preset, terms = sidecar.get("preset"), sidecar.get("shaping") or {}
    else:
        preset, terms = (settings.preset, settings.shaping) if settings else (None, {})
    text = ", ".join(f"{k}={v:g}" for k, v in sorted(terms.items()))
    if preset:
        return f"preset {preset}: {text}" if text else f"preset {preset}"
    return text


def train_run_label(path: str | Path) -> tuple[str, str]:
    """(label, policy) of a training log: results/checkpoints/{policy}/seed{seed}/train_log.parquet
    is 'policy seed{seed}'; a log directly in a policy's directory is just 'policy'."""
    parent = Path(path).parent
    if re.fullmatch(r"seed\d+", parent.name):
        return f"{parent.parent.name} {parent.name}", parent.parent.name
    return parent.name, parent.name


def _read_train_logs(paths: list[str]) -> dict[str, pd.DataFrame]:
    logs = {}
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"training log '{path}' does not exist (the `train` rule makes it)")
        logs[train_run_label(path)[0]] = pd.read_parquet(path)
    return logs


def _read_replays(paths: list[str]) -> list[dict]:
    replays = []
    for path in sorted(paths):
        file = Path(path)
        if not file.is_file():
            raise UserError(f"replay GIF '{path}' does not exist (the `render` rule makes it)")
        data = base64.b64encode(file.read_bytes()).decode()
        replays.append({"policy": file.parent.name, "mission": file.stem, "src": f"data:image/gif;base64,{data}"})
    return replays


def build_report(
    config_path: str,
    comparison_dir: str,
    eval_paths: list[str],
    out: str,
    vor_paths: list[str] | None = None,
    analysis_dir: str | None = None,
    train_logs: list[str] | None = None,
    replays: list[str] | None = None,
    benchmarks_dir: str | None = None,
    command: str = "snakemake -c2 report",
    sweep_dirs: list[str] | None = None,
    variant_tables: list[str] | None = None,
    logs_dir: str | None = None,
    curve_tables: list[str] | None = None,
    plan_path: str | None = None,
) -> None:
    study = load_study(config_path)
    directory = Path(comparison_dir)
    board = _read_table(directory, "leaderboard", LEADERBOARD)
    pairwise = _read_table(directory, "pairwise", PAIRWISE)
    profiles = _read_table(directory, "profiles", [])
    analysis, difficulty_table = _read_analysis(analysis_dir)
    logs = _read_train_logs(train_logs or [])
    log_paths = {train_run_label(path)[0]: path for path in train_logs or []}
    run_policy = {label: train_run_label(path)[1] for label, path in log_paths.items()}
    settings = {p: _train_config(study, run_policy[p]) for p in logs}
    trained_on = {p: [mission_id(m) for m in t.mission_names()] if t else [] for p, t in settings.items()}
    evals = read_parquets(eval_paths)
    curve_summary, final_vs_best = _read_curves(curve_tables or [])
    if plan_path is not None and not Path(plan_path).is_file():
        raise UserError(f"plan '{plan_path}' does not exist (the `plan` rule makes it)")
    plan = json.loads(Path(plan_path).read_text()) if plan_path else None
    vor_results = _read_vor(vor_paths or [])
    confidence = study.compare.confidence
    normalized = bool(board.loc[board["mission"] == ALL, "normalized"].any())
    per_mission = board[board["mission"] != ALL]
    overall = board[board["mission"] == ALL].sort_values("mean", ascending=False)
    best = best_per_mission(per_mission)
    policies = sorted(board["policy"].unique())
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=study.report.title,
            confidence=confidence,
            alpha=study.compare.alpha,
            correction={"holm": "Holm", "bh": "Benjamini-Hochberg"}[study.compare.correction],
            interval=study.compare.interval,
            normalization=study.compare.normalization,
            normalized=normalized,
            best=best,
            overall=overall.to_dict("records"),
            board=per_mission.to_dict("records"),
            missions=sorted(per_mission["mission"].unique()),
            figure=leaderboard_figure(board, confidence, "normalised score" if normalized else "mean score"),
            poi_figure=poi_figure(pairwise, policies),
            profile_figure=profile_figure(profiles, normalized),
            pairwise=pairwise.to_dict("records"),
            vor=vor_results,
            vor_figure=vor_figure(vor_results, confidence),
            training_figure=training_figure(logs),
            mission_curves_figure=mission_curves_figure(logs, trained_on),
            curves_figure=sample_efficiency_figure(curve_summary, confidence),
            plan=plan,
            final_vs_best=final_vs_best.to_dict("records"),
            final_vs_best_columns=list(final_vs_best.columns),
            training=[
                {
                    "policy": p,
                    "missions": ", ".join(trained_on.get(p, [])),
                    "shaping": _shaping_text(log_paths[p], settings[p]),
                    "updates": len(log),
                    "steps": int(log["agent_steps"].iloc[-1]),
                    "final_reward": float(log["episode_reward"].dropna().iloc[-5:].mean())
                    if log["episode_reward"].notna().any()
                    else float("nan"),
                    "seconds": float(log["wall_seconds"].iloc[-1]),
                    "sps": float(log["sps"].median()),
                }
                for p, log in sorted(logs.items())
            ],  # fmt: skip
            analysis=analysis.to_dict("records"),
            outcomes_figure=outcomes_figure(analysis),
            difficulty=difficulty_table.to_dict("records"),
            replays=_read_replays(replays or []),
            sweeps=_read_sweeps(sweep_dirs or [], study),
            variants=_read_variants(variant_tables or [], confidence),
            missions_table=[get_mission(m).summary() | {"id": mid} for mid, m in study.mission_by_id().items()],
            policies=[
                {"name": n, "spec": study.policy_spec(n), "description": p.description}
                for n, p in study.policies.items()
            ],
            per_episode=evals.assign(run=evals.get("run", 0))
            .groupby(["mission", "policy"])
            .agg(runs=("run", "nunique"), episodes=("episode", "nunique"), agents=("agent", "nunique"))
            .reset_index()
            .to_dict("records"),
            benchmarks=read_benchmarks(benchmarks_dir, logs_dir),
            provenance={
                "config_path": config_path,
                "config_hash": config_hash(study),
                "config_text": yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False),
                "git_commit": git_commit(Path(__file__).parent),  # the DAF code that made the report
                "versions": package_versions(),
                "seed": study.evaluation.seed,
                "episodes": study.evaluation.episodes,
                "command": command,
            },
        )
    )
    write_text(out, html)

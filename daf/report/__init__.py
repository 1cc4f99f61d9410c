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
from daf.missions import get_mission
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


def read_benchmarks(directory: str | Path | None) -> list[dict]:
    """Snakemake `benchmark:` TSVs: seconds and peak memory per job.

    The report's own benchmark is left out: it describes the previous report build, and
    showing it would make a regenerated report differ from the first.
    """
    if not directory or not Path(directory).is_dir():
        return []
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
                    }
                )
    return rows


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


def _read_train_logs(paths: list[str]) -> dict[str, pd.DataFrame]:
    logs = {}
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"training log '{path}' does not exist (the `train` rule makes it)")
        logs[Path(path).parent.name] = pd.read_parquet(path)
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
) -> None:
    study = load_study(config_path)
    directory = Path(comparison_dir)
    board = _read_table(directory, "leaderboard", LEADERBOARD)
    pairwise = _read_table(directory, "pairwise", PAIRWISE)
    profiles = _read_table(directory, "profiles", [])
    analysis, difficulty_table = _read_analysis(analysis_dir)
    logs = _read_train_logs(train_logs or [])
    evals = read_parquets(eval_paths)
    vor_results = _read_vor(vor_paths or [])
    confidence = study.compare.confidence
    normalized = bool(board.loc[board["mission"] == ALL, "normalized"].any())
    per_mission = board[board["mission"] != ALL]
    overall = board[board["mission"] == ALL].sort_values("mean", ascending=False)
    best = []
    for mission, part in per_mission.groupby("mission", sort=True):
        ranked = part.sort_values(["mean", "policy"], ascending=[False, True])
        top, runner = ranked.iloc[0], ranked.iloc[1:2]
        overlap = bool(len(runner)) and float(runner["ci_high"].iloc[0]) >= float(top["ci_low"])
        best.append({"mission": mission, "row": top.to_dict(), "clear": not overlap})
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
            training=[
                {
                    "policy": p,
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
            missions_table=[get_mission(m).summary() | {"id": mid} for mid, m in study.mission_by_id().items()],
            policies=[
                {"name": n, "spec": study.policy_spec(n), "description": p.description}
                for n, p in study.policies.items()
            ],
            per_episode=evals.groupby(["mission", "policy"])
            .agg(episodes=("episode", "nunique"), agents=("agent", "nunique"))
            .reset_index()
            .to_dict("records"),
            benchmarks=read_benchmarks(benchmarks_dir),
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

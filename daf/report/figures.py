"""The report's plots: pure functions from tables to inline SVG (and one HTML-table heat map).

Every function takes DataFrames (or the already-parsed JSON of a result file) and returns
the figure as an SVG string (`Markup`, so the template embeds it unescaped), or None when
there is nothing to draw. No function reads or writes a file. Each docstring names the
columns its table must have; extra columns are ignored.

The SVG is deterministic: a fixed `svg.hashsalt` makes element ids a function of their
content, and the <metadata> block (creation date) is left out, so a regenerated report is
byte-identical to the first. The cross-play heat map is the contents of an HTML table (cell
texts, hover titles, colours) that its template renders: a cell's CI shows on hover, without
a script.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from markupsafe import Markup

from daf.stats.scores import ALL

# Policy colours, assigned in sorted-policy order so a policy keeps its colour across figures.
COLORS = ["#1f4e79", "#c0504d", "#4f8a3c", "#8064a2", "#d08a1e", "#2c9fa5", "#7f7f7f", "#b5527f", "#4a6fa5", "#9c7a3c"]


def pyplot():
    """matplotlib.pyplot on the headless Agg backend, imported on first use (it is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "daf-report"  # deterministic element ids
    import matplotlib.pyplot as plt

    return plt


def svg(fig) -> Markup:
    """The figure as an <svg> element (closing the figure)."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    # No <metadata> block (dates, RDF links): deterministic, and no URLs besides XML namespaces.
    no_metadata = {"Date": None, "Creator": None, "Format": None, "Type": None}
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata=no_metadata)
    plt.close(fig)
    text = buf.getvalue()
    return Markup(text[text.index("<svg") :])  # drop the XML prolog and doctype


# --- comparison ----------------------------------------------------------------------------


def leaderboard_figure(board: pd.DataFrame, confidence: float, ylabel: str) -> Markup:
    """One panel per mission (and ALL): mean episode score per policy with its CI.

    board: the `daf compare` leaderboard, one row per (mission, policy); columns mission,
    policy, mean, ci_low, ci_high. Panels follow the missions' order in the table.
    """
    plt = pyplot()
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
    return svg(fig)


def poi_figure(pairwise: pd.DataFrame, policies: list[str]) -> Markup | None:
    """Heat map of P(row > column) across missions (the ALL rows).

    pairwise: the `daf compare` pairwise table; columns mission, policy_a, policy_b, poi.
    policies: the matrix's rows and columns in order (every policy_a/policy_b must be one).
    None when the table has no ALL rows.
    """
    rows = pairwise[(pairwise["mission"] == ALL)].drop_duplicates(["policy_a", "policy_b"])
    if rows.empty:
        return None
    plt = pyplot()
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
    return svg(fig)


def profile_figure(profiles: pd.DataFrame, normalized: bool) -> Markup | None:
    """Performance profiles over all missions: a line per policy with its CI band.

    profiles: the `daf compare` profiles table; columns mission, policy, tau, fraction,
    low, high (only the ALL rows are drawn). None when there are no ALL rows.
    """
    part = profiles[profiles["mission"] == ALL]
    if part.empty:
        return None
    plt = pyplot()
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
    return svg(fig)


def vor_figure(results: list[dict], confidence: float) -> Markup | None:
    """VOR_k against k, a line per candidate x mission with its CI.

    results: parsed `daf vor` JSON files, each {"candidate": str, "missions": {mission:
    {"per_k": [{"k", "vor", "ci_low", "ci_high"}, ...]}}}. None when the list is empty.
    """
    if not results:
        return None
    plt = pyplot()
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
    return svg(fig)


# --- training --------------------------------------------------------------------------------


# --- mission analysis ----------------------------------------------------------------------


def outcomes_figure(summary: pd.DataFrame) -> Markup | None:
    """Stacked bars: fraction of episodes per outcome, for every policy x mission.

    summary: the mission-analysis summary, one row per (policy, mission), drawn in table
    order; columns policy, mission and <outcome>_fraction for each of
    `daf.evaluation.outcomes.OUTCOMES`. None when the table is empty.
    """
    from daf.evaluation.outcomes import OUTCOMES

    if summary.empty:
        return None
    plt = pyplot()
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
    return svg(fig)


# --- sweeps and variants ------------------------------------------------------------------
# A sweep's trials table has one row per trial; columns status ("completed", "failed",
# "pruned"), objective, order (the order proposed) and param.<name> per hyperparameter.
# spaces: hyperparameter name -> its search space as a dict ({"log": True, ...}).


def variants_figure(table: pd.DataFrame, confidence: float) -> Markup:
    """Mean score per mission variant, a line per policy, with CIs.

    table: a `variants` table, one row per (policy, mission); columns policy, mission, mean,
    ci_low, ci_high. Variants are categories on the x axis, in the table's order.
    """
    plt = pyplot()
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
    return svg(fig)


# --- cross-play ----------------------------------------------------------------------------

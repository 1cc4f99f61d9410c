"""The report's population figures: Nash-averaged skills beside the mean over missions, the
missions' Nash weights, and α-Rank masses per mission. Pure functions from the `daf nash` /
`daf alpharank` tables to inline SVG (see daf.report.figures)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from markupsafe import Markup

from daf.report.figures import COLORS, pyplot, svg


def _errors(part: pd.DataFrame, column: str) -> np.ndarray:
    """Error-bar lengths below and above `column` (clipped at 0: a skewed interval may not cover
    a point estimate the bootstrap rarely reproduces)."""
    return np.clip([part[column] - part["ci_low"], part["ci_high"] - part[column]], 0.0, None)


def nash_figure(table: pd.DataFrame, confidence: float) -> Markup | None:
    """Left: each policy's Nash-averaged skill with its CI, beside its mean over missions; right:
    each mission's Nash weight with its CI, beside the uniform weight. Columns: NASH_COLUMNS."""
    if table.empty:
        return None
    policies = table[table["kind"] == "policy"].sort_values(["rank_nash", "name"])
    missions = table[table["kind"] == "mission"].sort_values(["rank_nash", "name"])
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    x = np.arange(len(policies))
    left.bar(x - 0.2, policies["nash"], 0.4, yerr=_errors(policies, "nash"), capsize=3, color=COLORS[0],
             label="Nash-averaged")  # fmt: skip
    left.bar(x + 0.2, policies["uniform"], 0.4, color=COLORS[6], label="mean over missions")
    left.set_xticks(x, policies["name"], rotation=20, ha="right")
    left.set_ylabel(f"skill ({policies['scale'].iloc[0].split(' (')[0]})", fontsize=9)
    left.axhline(0, color="black", linewidth=0.8)
    left.legend(fontsize=8)
    left.set_title(f"Policies, {confidence:.0%} bootstrap CI", fontsize=10)
    y = np.arange(len(missions))
    right.barh(y, missions["nash"], xerr=_errors(missions, "nash"), capsize=3, color=COLORS[1], label="Nash weight")
    right.scatter(missions["uniform"], y, color="black", marker="|", s=120, label="uniform", zorder=3)
    right.set_yticks(y, missions["name"])
    right.invert_yaxis()
    right.set_xlim(0, 1)
    right.legend(fontsize=8, loc="best")
    right.set_title("Missions: the task player's mixture", fontsize=10)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return svg(fig)


def alpharank_figure(part: pd.DataFrame, confidence: float) -> Markup:
    """α-Rank masses of one mission x split with their CIs, highest first. Columns: ALPHARANK_COLUMNS."""
    part = part.sort_values(["rank", "policy"])
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 0.5 + 0.45 * len(part)))
    y = np.arange(len(part))
    ax.barh(y, part["mass"], xerr=_errors(part, "mass"), capsize=3, color=COLORS[2])
    ax.set_yticks(y, part["policy"])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("stationary mass")
    ax.set_title(f"α-Rank, α = {part['alpha'].iloc[0]:.3g} ({part['alpha_source'].iloc[0]}), "
                 f"{confidence:.0%} bootstrap CI", fontsize=10)  # fmt: skip
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return svg(fig)

"""The cross-play heat map: the contents of an HTML table (cell texts, hover titles, colours)
that its template renders; a cell's CI shows on hover, without a script.
"""

from __future__ import annotations

import pandas as pd

from daf.report.formatting import num

HEAT_SCALE = ("#f7fbff", "#6baed6", "#08306b")  # sequential, lowest to highest (ColorBrewer Blues)


DARK_TEXT, LIGHT_TEXT = "#1b1b1b", "#ffffff"
SKIPPED_STYLE = "background:#d9d9d9;color:#555555"  # a cell not played: grey, off the scale


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def heat_color(value: float, low: float, high: float, scale: tuple[str, ...] = HEAT_SCALE) -> str:
    """The background of `value` on the sequential `scale`: `low` gets its first colour, `high`
    its last, linear in RGB between the stops (values outside are clipped); the middle of the
    scale when low == high, so one played cell is not mistaken for an extreme."""
    t = 0.5 if not high > low else min(1.0, max(0.0, (value - low) / (high - low)))
    position = t * (len(scale) - 1)
    i = min(int(position), len(scale) - 2)
    start, end, f = _rgb(scale[i]), _rgb(scale[i + 1]), position - i
    return "#" + "".join(f"{round(s + (e - s) * f):02x}" for s, e in zip(start, end))


def _luminance(color: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in _rgb(color))]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def text_color(background: str) -> str:
    """The page's dark text or white, whichever has the higher WCAG contrast on `background`
    (white on the dark end of the scale)."""
    bg, dark = _luminance(background), _luminance(DARK_TEXT)
    return LIGHT_TEXT if 1.05 / (bg + 0.05) > (bg + 0.05) / (dark + 0.05) else DARK_TEXT


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _cell_title(r: dict) -> str:
    """A played cell's hover text: score, CI, sample sizes and each side's own mean."""
    a, b = r["policy_a"], r["policy_b"]
    score = (f"{num(r['team_mean'])} [{num(r['team_ci_low'])}, {num(r['team_ci_high'])}] team reward per agent, "
             f"{_plural(int(r['episodes']), 'episode')} x {_plural(int(r['runs']), 'run')}")  # fmt: skip
    if a == b:
        return f"{a} self-play (all {r['num_agents']} agents): {score}"
    return f"{a} with {b} ({_seats(r)}): {score}; {a}'s agents {num(r['a_mean'])}, {b}'s {num(r['b_mean'])}"


def _seats(r: dict) -> str:
    """'half: 2 of 4 agents' (a numeric split is just the count: '3 of 4 agents')."""
    split = str(r["split"])
    seats = f"{r['agents_a']} of {r['num_agents']} agents"
    return seats if split.isdigit() else f"{split}: {seats}"


def _note(r: dict) -> str:
    """Why a cell was skipped ('' when it was played; a missing note reads as '')."""
    note = r.get("note")
    return note if isinstance(note, str) else ""


def _played(r: dict) -> bool:
    return not _note(r) and not pd.isna(r["team_mean"])


def crossplay_heatmap(cells: pd.DataFrame) -> dict:
    """The cross-play matrix of one mission x split, as the contents of an HTML table.

    Rows are the row policy A (on `agents_a` agents), columns its partner B (the rest); a cell
    shows the team's mean reward per agent, its background on `HEAT_SCALE` from the lowest to
    the highest played cell of this matrix, its `title` (hover) the CI, episodes x runs and
    each side's own mean. The diagonal (self-play) has css "self"; a cell that was skipped
    (a note) or is absent from the table is grey (`SKIPPED_STYLE`), css "skipped", its title
    the note.

    cells: the cross-play table's rows of one mission and split; columns policy_a, policy_b,
    split, agents_a, num_agents, episodes, runs, team_mean, team_ci_low, team_ci_high, a_mean,
    b_mean, note. Policies are ordered by first appearance (the table follows the config's
    order); a duplicated (A, B) keeps its first row.

    Returns {"split", "agents_a" (A's agents off the diagonal), "num_agents", "columns": [B],
    "rows": [{"policy": A, "cells": [{"text", "title", "style", "css"}]}], "low", "high" (the
    scale's ends, NaN when nothing was played), "low_style", "high_style" (their cells'
    style, None when nothing was played)}.
    """
    records = cells.to_dict("records")
    by_pair = {}
    for r in records:
        by_pair.setdefault((r["policy_a"], r["policy_b"]), r)
    order = list(dict.fromkeys([r["policy_a"] for r in records] + [r["policy_b"] for r in records]))
    row_policies = [p for p in order if p in {r["policy_a"] for r in records}]
    columns = [p for p in order if p in {r["policy_b"] for r in records}]
    played = [r["team_mean"] for r in records if _played(r)]
    low, high = (min(played), max(played)) if played else (float("nan"), float("nan"))
    mixed = [r for r in records if r["policy_a"] != r["policy_b"]] or records
    split = str(records[0]["split"]) if records else ""

    def style(value: float) -> str:
        background = heat_color(value, low, high)
        return f"background:{background};color:{text_color(background)}"

    def cell(a: str, b: str) -> dict:
        r = by_pair.get((a, b))
        if r is not None and _played(r):
            css = "self" if a == b else ""
            return {"text": num(r["team_mean"]), "title": _cell_title(r), "style": style(r["team_mean"]), "css": css}
        who = f"{a} self-play" if a == b else f"{a} with {b} ({split if r is None else _seats(r)})"
        why = "not in the cross-play table" if r is None else f"skipped: {_note(r) or 'not played'}"
        css = "self skipped" if a == b else "skipped"
        return {"text": num(None), "title": f"{who}: {why}", "style": SKIPPED_STYLE, "css": css}

    return {
        "split": split,
        "agents_a": int(mixed[0]["agents_a"]) if records else 0,
        "num_agents": int(records[0]["num_agents"]) if records else 0,
        "columns": columns,
        "rows": [{"policy": a, "cells": [cell(a, b) for b in columns]} for a in row_policies],
        "low": low,
        "high": high,
        "low_style": style(low) if played else None,
        "high_style": style(high) if played else None,
    }

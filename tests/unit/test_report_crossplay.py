"""The report's Cross-play section: heat map cells and colours, context, template, reader."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from daf.errors import UserError
from daf.report import _environment, crossplay_heatmap
from daf.report.context import crossplay_context
from daf.report.heatmaps import HEAT_SCALE, SKIPPED_STYLE, heat_color, text_color
from daf.report.readers import read_crossplay

NAN = float("nan")
NOTE = "'ppo' does not play cogs.energy: trained on cogs.tiny, other observation features or actions"


def _cell(a, b, mean, split="half", agents_a=2, note="", mission="cogs.energy"):
    played = not note
    return {
        "mission": mission, "policy_a": a, "policy_b": b, "split": split, "agents_a": agents_a, "num_agents": 4,
        "episodes": 16 if played else 0, "runs": (3 if a == "ppo" else 1) if played else 0,
        "team_mean": mean if played else NAN, "team_ci_low": mean - 1 if played else NAN,
        "team_ci_high": mean + 0.5 if played else NAN, "a_mean": mean + 0.7 if played else NAN,
        "b_mean": mean - 0.7 if played else NAN, "note": note,
    }  # fmt: skip


def _cells(split="half", agents_a=2, mission="cogs.energy") -> pd.DataFrame:
    """3 policies x 3, the diagonal included; (scripted, ppo) skipped. Lowest 1.0, highest 5.0."""
    means = {("ppo", "ppo"): 5.0, ("ppo", "random"): 3.2, ("ppo", "scripted"): 2.0,
             ("random", "ppo"): 3.0, ("random", "random"): 1.0, ("random", "scripted"): 1.5,
             ("scripted", "ppo"): None, ("scripted", "random"): 1.6, ("scripted", "scripted"): 4.0}  # fmt: skip
    rows = [
        _cell(a, b, m, split, agents_a, note=NOTE if m is None else "", mission=mission) for (a, b), m in means.items()
    ]
    return pd.DataFrame(rows)


def _gaps(mission="cogs.energy") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"mission": mission, "policy": "ppo", "split": "half", "partners": 2, "self_play": 5.0, "cross_play": 2.6,
             "gap": 2.4, "gap_ci_low": 1.25, "gap_ci_high": 3.5, "runs": 3},
            {"mission": mission, "policy": "random", "split": "half", "partners": 2, "self_play": 1.0,
             "cross_play": 2.25, "gap": -1.25, "gap_ci_low": -2.5, "gap_ci_high": 0.125, "runs": 1},
        ]
    )  # fmt: skip


# --- colours ----------------------------------------------------------------------------------


def test_heat_color_runs_from_the_first_to_the_last_stop_and_clips():
    assert heat_color(1.0, 1.0, 5.0) == HEAT_SCALE[0]
    assert heat_color(5.0, 1.0, 5.0) == HEAT_SCALE[-1]
    assert heat_color(3.0, 1.0, 5.0) == HEAT_SCALE[1]  # the middle stop
    assert heat_color(-7.0, 1.0, 5.0) == HEAT_SCALE[0] and heat_color(9.0, 1.0, 5.0) == HEAT_SCALE[-1]
    assert heat_color(2.0, 2.0, 2.0) == HEAT_SCALE[1]  # one value: the middle, not an extreme
    assert heat_color(0.5, 0.0, 1.0, ("#000000", "#ffffff")) == "#808080"  # linear in RGB (127.5 rounds to 128)
    assert heat_color(0.25, 0.0, 1.0, ("#000000", "#ffffff")) == "#404040"


def test_text_color_is_white_on_dark_backgrounds_and_dark_on_light_ones():
    assert text_color(HEAT_SCALE[-1]) == "#ffffff"
    assert text_color("#000000") == "#ffffff"
    assert text_color(HEAT_SCALE[0]) == "#1b1b1b"
    assert text_color(HEAT_SCALE[1]) == "#1b1b1b"  # mid blue: dark text has the higher contrast
    assert text_color("#ffffff") == "#1b1b1b"


# --- the heat map -----------------------------------------------------------------------------


def test_crossplay_heatmap_cells_titles_colours_diagonal_and_skipped_cells():
    h = crossplay_heatmap(_cells())
    assert (h["split"], h["agents_a"], h["num_agents"]) == ("half", 2, 4)
    assert h["columns"] == ["ppo", "random", "scripted"]
    assert [r["policy"] for r in h["rows"]] == ["ppo", "random", "scripted"]
    texts = [[c["text"] for c in r["cells"]] for r in h["rows"]]
    assert texts == [["5", "3.2", "2"], ["3", "1", "1.5"], ["–", "1.6", "4"]]
    cells = {(r["policy"], b): c for r in h["rows"] for b, c in zip(h["columns"], r["cells"])}

    ppo_random = cells["ppo", "random"]
    assert ppo_random["title"] == (
        "ppo with random (half: 2 of 4 agents): 3.2 [2.2, 3.7] team reward per agent, 16 episodes x 3 runs; "
        "ppo's agents 3.9, random's 2.5"
    )
    assert cells["random", "ppo"]["title"].startswith("random with ppo (half: 2 of 4 agents): 3 [2, 3.5]")
    assert "16 episodes x 1 run;" in cells["random", "ppo"]["title"]
    assert cells["ppo", "random"]["css"] == ""

    # the diagonal is self-play, marked
    assert [cells[p, p]["css"] for p in h["columns"]] == ["self", "self", "self"]
    assert cells["ppo", "ppo"]["title"] == (
        "ppo self-play (all 4 agents): 5 [4, 5.5] team reward per agent, 16 episodes x 3 runs"
    )

    # the scale runs from the lowest played cell (random self-play, 1.0) to the highest (ppo, 5.0)
    assert (h["low"], h["high"]) == (1.0, 5.0)
    assert cells["random", "random"]["style"] == f"background:{HEAT_SCALE[0]};color:#1b1b1b"
    assert cells["ppo", "ppo"]["style"] == f"background:{HEAT_SCALE[-1]};color:#ffffff"
    assert cells["ppo", "random"]["style"] == f"background:{heat_color(3.2, 1.0, 5.0)};color:#1b1b1b"
    assert h["low_style"] == cells["random", "random"]["style"]
    assert h["high_style"] == cells["ppo", "ppo"]["style"]

    skipped = cells["scripted", "ppo"]
    assert skipped["style"] == SKIPPED_STYLE and skipped["css"] == "skipped" and skipped["text"] == "–"
    assert skipped["title"] == f"scripted with ppo (half: 2 of 4 agents): skipped: {NOTE}"


def test_crossplay_heatmap_is_deterministic_and_handles_gaps_in_the_table():
    table = _cells(split="3", agents_a=3)
    assert crossplay_heatmap(table) == crossplay_heatmap(table.copy())
    # a numeric split reads as the count; a pair absent from the table is grey too
    partial = table[~((table["policy_a"] == "random") & (table["policy_b"] == "scripted"))]
    h = crossplay_heatmap(partial)
    cells = {(r["policy"], b): c for r in h["rows"] for b, c in zip(h["columns"], r["cells"])}
    assert cells["ppo", "random"]["title"].startswith("ppo with random (3 of 4 agents): ")
    assert cells["random", "scripted"]["style"] == SKIPPED_STYLE
    assert cells["random", "scripted"]["title"] == "random with scripted (3): not in the cross-play table"
    # nothing played: no scale
    none = crossplay_heatmap(table.assign(note=NOTE, team_mean=NAN))
    assert np.isnan(none["low"]) and none["low_style"] is None and none["high_style"] is None
    assert all(c["style"] == SKIPPED_STYLE for r in none["rows"] for c in r["cells"])
    assert none["rows"][0]["cells"][0]["css"] == "self skipped"


# --- context and template ---------------------------------------------------------------------


def _inputs(cells: pd.DataFrame, gaps: pd.DataFrame) -> SimpleNamespace:
    return SimpleNamespace(crossplay=cells, crossplay_gaps=gaps)


def _two_missions() -> SimpleNamespace:
    cells = pd.concat([_cells("half", 2), _cells("one", 1), _cells("half", 2, mission="cogs.tiny")], ignore_index=True)
    return _inputs(cells, pd.concat([_gaps(), _gaps("cogs.tiny")], ignore_index=True))


def test_crossplay_context_one_entry_per_mission_with_a_heatmap_per_split():
    context = crossplay_context(_two_missions())
    assert list(context) == ["crossplay"]
    energy, tiny = context["crossplay"]
    assert (energy["mission"], energy["num_agents"], tiny["mission"]) == ("cogs.energy", 4, "cogs.tiny")
    assert [h["split"] for h in energy["heatmaps"]] == ["half", "one"]
    assert [h["agents_a"] for h in energy["heatmaps"]] == [2, 1]
    assert [h["split"] for h in tiny["heatmaps"]] == ["half"]
    assert [(g["policy"], g["gap"]) for g in energy["gaps"]] == [("ppo", 2.4), ("random", -1.25)]
    assert all(g["mission"] == "cogs.energy" for g in energy["gaps"])
    # a pair skipped in both splits is one line
    assert energy["skipped"] == [{"policy_a": "scripted", "policy_b": "ppo", "splits": "half, one", "note": NOTE}]


def test_crossplay_context_is_empty_without_a_table():
    assert crossplay_context(_inputs(pd.DataFrame(), pd.DataFrame())) == {"crossplay": []}
    # cells without gap tables: heat maps, no gap rows
    (only,) = crossplay_context(_inputs(_cells(), pd.DataFrame()))["crossplay"]
    assert only["gaps"] == [] and len(only["heatmaps"]) == 1


def _render(context: dict) -> str:
    return _environment().get_template("sections/crossplay.html.j2").render(confidence=0.95, **context)


def test_crossplay_section_renders_heatmap_gaps_and_skipped_cells():
    html = _render(crossplay_context(_two_missions()))
    assert html.startswith('<h2 id="crossplay">Cross-play</h2>')
    assert "95% bootstrap CI" in html
    assert html.count('<table class="heatmap">') == 3
    assert "<h3>cogs.energy (4 agents)</h3>" in html and "<h3>cogs.tiny (4 agents)</h3>" in html
    assert "the row policy on 1 of 4 agents" in html
    assert "<tr><th>A \\ B</th><th>ppo</th><th>random</th><th>scripted</th></tr>" in html
    # a played cell: colour, hover text with the CI (apostrophes escaped), value
    assert (
        f'<td style="background:{heat_color(3.2, 1.0, 5.0)};color:#1b1b1b" title="ppo with random (half: 2 of 4 '
        "agents): 3.2 [2.2, 3.7] team reward per agent, 16 episodes x 3 runs; ppo&#39;s agents 3.9, random&#39;s "
        '2.5">3.2</td>' in html
    )
    assert f'<td class="self" style="background:{HEAT_SCALE[-1]};color:#ffffff" title="ppo self-play' in html
    assert (
        f'<td class="skipped" style="{SKIPPED_STYLE}" title="scripted with ppo (half: 2 of 4 agents): skipped: ' in html
    )
    # the gap table: significant positive gap bold, the other not
    assert '<tr class="best"><td>ppo</td><td>half</td><td class="num">2</td><td class="num">3</td>' in html
    assert '<td class="num">2.4</td>\n  <td class="num">[1.25, 3.5]</td></tr>' in html
    assert "<tr><td>random</td><td>half</td>" in html and "[-2.5, 0.125]" in html
    # the skipped cells with their notes
    assert "<summary>Skipped cells (1)</summary>" in html
    assert '<tr><td>scripted</td><td>ppo</td><td>half, one</td><td class="muted">&#39;ppo&#39; does not play' in html
    assert html == _render(crossplay_context(_two_missions()))  # byte-identical on a rerun


def test_crossplay_section_is_hidden_without_crossplay():
    assert _render(crossplay_context(_inputs(pd.DataFrame(), pd.DataFrame()))) == ""


def test_report_page_links_and_includes_the_section_after_vor():
    source = _environment().loader.get_source(_environment(), "report.html.j2")[0]
    nav = (
        '{% if vor %}<a href="#vor">VOR</a>{% endif %}{% if crossplay %}<a href="#crossplay">Cross-play</a>{% endif %}'
    )
    assert nav in source
    includes = [line for line in source.splitlines() if line.startswith("{% include")]
    vor = includes.index('{% include "sections/vor.html.j2" %}')
    assert includes[vor + 1] == '{% include "sections/crossplay.html.j2" %}'


# --- reader and CLI ---------------------------------------------------------------------------


def test_read_crossplay_concatenates_and_reports_a_missing_file_in_one_line(tmp_path):
    from daf.stats.crossplay import CELL_COLUMNS

    columns = ["mission", "num_agents", *CELL_COLUMNS]
    first, second = tmp_path / "cogs.energy.parquet", tmp_path / "cogs.tiny.parquet"
    _cells().to_parquet(first)
    _cells(mission="cogs.tiny").to_parquet(second)
    table = read_crossplay([str(first), str(second)], "cross-play table", columns)
    assert len(table) == 18 and list(dict.fromkeys(table["mission"])) == ["cogs.energy", "cogs.tiny"]
    assert read_crossplay([], "cross-play table", columns).empty

    missing = tmp_path / "gaps" / "cogs.energy.parquet"
    with pytest.raises(UserError) as error:
        read_crossplay([str(first), str(missing)], "cross-play gap table", columns)
    message = str(error.value)
    assert "\n" not in message and str(missing) in message and "the `crossplay` rule" in message

    _gaps().to_parquet(tmp_path / "gaps.parquet")
    with pytest.raises(UserError, match="is not a cross-play table .*lacks columns num_agents, policy_a"):
        read_crossplay([str(tmp_path / "gaps.parquet")], "cross-play table", columns)


def test_report_cli_takes_crossplay_tables():
    from daf.cli import build_parser

    args = build_parser().parse_args(
        ["report", "--config", "c.yaml", "--comparison", "cmp", "--evals", "e.parquet", "--out", "r.html",
         "--crossplay", "results/crossplay/a.parquet", "results/crossplay/b.parquet",
         "--crossplay-gaps", "results/crossplay/gaps/a.parquet"]
    )  # fmt: skip
    assert args.crossplay == ["results/crossplay/a.parquet", "results/crossplay/b.parquet"]
    assert args.crossplay_gaps == ["results/crossplay/gaps/a.parquet"]
    defaults = build_parser().parse_args(
        ["report", "--config", "c.yaml", "--comparison", "cmp", "--evals", "e.parquet", "--out", "r.html"]
    )
    assert (defaults.crossplay, defaults.crossplay_gaps) == ([], [])

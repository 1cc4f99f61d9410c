"""The report in a real browser: headless Chromium opens it from disk (file://)."""

import io

import numpy as np
import pandas as pd
import pytest
from browser import Page, chromium_path
from workflow_runs import build_study

from daf.report.formatting import num

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The tiny study's report (built by the workflow test's study, or here)."""
    return build_study(tmp_path_factory) / "results/report/index.html"


@pytest.mark.skipif(chromium_path() is None, reason="LOUD SKIP: chromium is not installed (apt-get install chromium)")
def test_report_in_headless_chromium(report, tmp_path):
    from PIL import Image

    page = Page()
    try:
        page.open(report.resolve().as_uri())
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.alt])"
        )
        svgs = page.evaluate("document.querySelectorAll('svg').length")
        sections = page.evaluate("Array.from(document.querySelectorAll('h2')).map(h => h.id)")
        overall = page.evaluate("document.getElementById('finding-overall').textContent")
        closed = page.evaluate("Array.from(document.querySelectorAll('#pairwise ~ details')).map(d => d.open)")
        # sorting works: click the 'Mean' header of the overall table twice, rows reorder
        sorted_ok = page.evaluate("""(() => {
            const table = document.querySelector('#leaderboard ~ table.sortable');
            const col = Array.from(table.rows[0].cells).findIndex(c => c.textContent.trim() === 'Mean');
            const values = () => Array.from(table.rows).slice(1).map(r => parseFloat(r.cells[col].textContent));
            table.rows[0].cells[col].click();
            const up = values();
            table.rows[0].cells[col].click();
            const down = values();
            const asc = up.every((v, i) => i === 0 || up[i - 1] <= v);
            const desc = down.every((v, i) => i === 0 || down[i - 1] >= v);
            return asc && desc;
        })()""")
        pwned = page.evaluate("typeof window.__daf_pwned")  # hostile user text ran?
        shot = page.screenshot(tmp_path / "report.png")
        errors, requests = page.errors(), page.requests()
    finally:
        page.close()
    assert pwned == "undefined"  # no script from a description, title or config comment ran
    assert errors == [], errors
    external = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert external == [], external  # the report is self-contained
    assert images and all(ok and w > 0 and h > 0 for ok, w, h, _ in images), images  # every GIF decodes
    assert svgs >= 3
    assert sections[0] == "findings"  # the story first
    assert {"leaderboard", "pairwise", "plan", "vor", "training", "analysis", "replays", "provenance"} <= set(sections)
    # the overall finding names the leaderboard's top ALL row with its numbers
    board = pd.read_parquet(report.parents[1] / "comparison/leaderboard.parquet")
    top = board[board["mission"] == "ALL"].sort_values(["mean", "policy"], ascending=[False, True]).iloc[0]
    assert f"{top['policy']}, mean {num(top['mean'])} [{num(top['ci_low'])}, {num(top['ci_high'])}]" in " ".join(
        overall.split()
    )
    assert closed and not any(closed[:1])  # the pairwise table starts collapsed
    assert sorted_ok
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=float)
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.005  # not a blank page

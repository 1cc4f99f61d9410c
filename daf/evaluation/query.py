"""`daf query`: SQL (DuckDB) over the evaluation tables of an evaluation store and of studies.

One view, `evals`: every row (episode x agent) of every evaluation table found, with `study`
(a study directory's name, or `store` for the store's entries) and `source` (the file) next to
the table's own columns (`policy`, `mission`, `run`, `episode`, `seed`, `reward`, ...; tables
of different missions have different `stat.*` columns: missing ones are NULL). A study's tables
are its merged `results/evals/POLICY/MISSION.parquet`; the store's are its entries' chunks.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from daf.errors import UserError


def sources(store: str | Path | None, studies: list[Path]) -> list[tuple[str, Path]]:
    """(study label, parquet) of every table the view holds."""
    from daf.evaluation.store import Store

    found: list[tuple[str, Path]] = []
    labels = [Path(s).resolve().name for s in studies]
    for study, label in zip(studies, labels):
        evals = Path(study) / "results" / "evals"
        if not evals.is_dir():
            raise UserError(f"--study '{study}' has no results/evals/ (is it a study directory that ran?)")
        name = label if labels.count(label) == 1 else str(Path(study).resolve())  # same names: full paths
        found += [(name, p) for p in sorted(evals.glob("*/*.parquet"))]
    opened = Store.from_env(store)
    if opened is not None:
        if not opened.root.is_dir():
            raise UserError(f"store '{opened.root}' does not exist")
        found += [("store", e.path / "table.parquet") for e in opened.entries() if (e.path / "table.parquet").is_file()]
    return found


def run_query(sql: str, store: str | Path | None = None, studies: list[Path] | None = None) -> pd.DataFrame:
    """Run `sql` against the `evals` view; a SQL error is one line naming DuckDB's message."""
    try:
        import duckdb
    except ImportError:
        raise UserError("daf query needs DuckDB: pip install -c constraints.txt -e '.[query]'") from None
    tables = sources(store, list(studies or []))
    if not tables:
        raise UserError("daf query found no evaluation tables: pass --study DIR (repeatable) and/or --store DIR")
    connection = duckdb.connect()
    parts = [f"SELECT {_literal(label)} AS study, {_literal(str(p))} AS source, * FROM read_parquet({_literal(str(p))})"
             for label, p in tables]  # fmt: skip
    connection.execute("CREATE VIEW evals AS " + " UNION ALL BY NAME ".join(parts))
    try:
        return connection.execute(sql).df()
    except duckdb.Error as exc:
        raise UserError(f"query failed: {' '.join(str(exc).split())}") from None


def _literal(text: str) -> str:
    """A SQL string literal (a view cannot take prepared parameters)."""
    return "'" + text.replace("'", "''") + "'"

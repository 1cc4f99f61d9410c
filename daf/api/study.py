"""`daf.Study`: a finished study's results as DataFrames, and its report regenerated."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pandas as pd

from daf import paths
from daf.errors import UserError

REPORT_FLAGS = {  # `daf report` flag -> build_report argument (the flags the report rule passes)
    "--config": "config_path", "--comparison": "comparison_dir", "--evals": "eval_paths", "--vor": "vor_paths",
    "--analysis": "analysis_dir", "--train-logs": "train_logs", "--replays": "replays",
    "--benchmarks": "benchmarks_dir", "--regenerate-command": "command", "--sweeps": "sweep_dirs",
    "--variants": "variant_tables", "--logs": "logs_dir", "--curves": "curve_tables", "--plan": "plan_path",
    "--crossplay": "crossplay_tables", "--crossplay-gaps": "crossplay_gap_tables", "--nash": "nash_tables",
    "--alpharank": "alpharank_tables",
}  # fmt: skip
LISTS = {"eval_paths", "vor_paths", "train_logs", "replays", "sweep_dirs", "variant_tables", "curve_tables",
         "crossplay_tables", "crossplay_gap_tables", "nash_tables", "alpharank_tables"}  # fmt: skip


class Study:
    """The results of a study that ran (`snakemake` in `directory`): pass the directory the
    workflow ran in (the one holding `results/`) or `results/` itself. Tables are read when
    asked for; a table the study did not make raises a one-line error naming the file and
    the config section that makes it."""

    def __init__(self, directory: str | Path = "."):
        directory = Path(directory)
        if (directory / paths.RESULTS).is_dir():
            self.root = directory
        elif directory.name == paths.RESULTS and directory.is_dir():
            self.root = directory.parent
        else:
            raise UserError(f"'{directory}' is not a study directory: it has no {paths.RESULTS}/ (run snakemake there)")
        self.results = self.root / paths.RESULTS

    def __repr__(self) -> str:
        return f"Study('{self.root}')"

    def _path(self, pattern: str, why: str = "", **wildcards) -> Path:
        path = self.root / pattern.format(**wildcards)
        if not path.is_file():
            hint = f" ({why})" if why else ""
            raise UserError(f"this study has no '{path.relative_to(self.root)}'{hint}")
        return path

    # --- comparison -------------------------------------------------------------------------
    @property
    def leaderboard(self) -> pd.DataFrame:
        return pd.read_parquet(self._path(paths.LEADERBOARD, "the `compare` rule makes it"))

    @property
    def pairwise(self) -> pd.DataFrame:
        return pd.read_parquet(self._path(paths.PAIRWISE, "the `compare` rule makes it"))

    @property
    def profiles(self) -> pd.DataFrame:
        return pd.read_parquet(self._path(paths.PROFILES, "the `compare` rule makes it"))

    # --- evaluations ------------------------------------------------------------------------
    def _eval_files(self) -> list[Path]:
        base = self.results / "evals"
        return sorted(base.glob("*/*.parquet")) if base.is_dir() else []

    @property
    def policies(self) -> list[str]:
        return sorted({p.parent.name for p in self._eval_files()})

    @property
    def missions(self) -> list[str]:
        return sorted({p.stem for p in self._eval_files()})

    def evals(self, policy: str | None = None, mission: str | None = None) -> pd.DataFrame:
        """Evaluation rows (one per episode x agent): of one policy x mission, or all that match."""
        files = [f for f in self._eval_files()
                 if (policy is None or f.parent.name == policy) and (mission is None or f.stem == mission)]  # fmt: skip
        if not files:
            what = " x ".join(filter(None, [policy, mission])) or "any policy"
            policies, missions = ", ".join(self.policies) or "none", ", ".join(self.missions) or "none"
            raise UserError(
                f"this study has no evaluation of {what}; evaluated policies: {policies}; missions: {missions}"
            )
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)

    @property
    def provenance(self) -> pd.DataFrame:
        """One row per evaluation chunk: what played (spec, class), where (mission and its config
        sha256), which episodes and seed, the DAF commit and the time it took."""
        rows = []
        for table in self._eval_files():
            sidecar = table.with_suffix(".json")
            chunks = json.loads(sidecar.read_text())["chunks"] if sidecar.is_file() else {}
            for chunk, meta in sorted(chunks.items()):
                meta = meta or {}
                rows.append({
                    "policy": table.parent.name, "mission": table.stem, "chunk": chunk, "run": meta.get("run"),
                    "first_episode": meta.get("first_episode"), "episodes": meta.get("episodes"),
                    "base_seed": meta.get("base_seed"), "spec": (meta.get("policy") or {}).get("spec"),
                    "class_path": (meta.get("policy") or {}).get("class_path"),
                    "mission_sha256": (meta.get("mission") or {}).get("sha256"),
                    "git_commit": meta.get("git_commit"), "wall_seconds": meta.get("wall_seconds"),
                })  # fmt: skip
        return pd.DataFrame(rows)

    # --- learning curves, cross-play, VOR, plan ---------------------------------------------
    @property
    def curves(self) -> pd.DataFrame:
        """Learning curves over runs: per policy x mission (and ALL) x checkpoint, mean and IQM with CIs."""
        return pd.read_parquet(self._path(paths.CURVES_SUMMARY, "the config's `curves` section makes it"))

    def curve_runs(self, policy: str) -> pd.DataFrame:
        """Every checkpoint's evaluation of every run of `policy` (one row per episode)."""
        return pd.read_parquet(self._path(paths.CURVE_POLICY, "the config's `curves` section makes it", policy=policy))

    def crossplay(self, mission: str) -> pd.DataFrame:
        return pd.read_parquet(self._path(paths.CROSSPLAY, "the config's `crossplay` section makes it",
                                          mission=mission))  # fmt: skip

    @property
    def nash(self) -> pd.DataFrame:
        """Nash averaging: a row per policy (skill, CI, ranks) and per mission (weight, CI)."""
        return pd.read_parquet(self._path(paths.NASH, "the config's `population` section makes it"))

    def alpharank(self, mission: str) -> pd.DataFrame:
        """α-Rank of one cross-play mission: a row per split x policy (mass, CI, rank)."""
        return pd.read_parquet(self._path(paths.ALPHARANK, "the config's `population.alpharank` section makes it",
                                          mission=mission))  # fmt: skip

    @property
    def vor(self) -> pd.DataFrame:
        """One row per VOR candidate: value over replacement with its CI, the replacement's mean."""
        base = self.results / "vor"
        files = sorted(base.glob("*.json")) if base.is_dir() else []
        if not files:
            raise UserError("this study has no VOR results (the config's `vor` section makes results/vor/*.json)")
        keep = ["candidate", "vor", "ci_low", "ci_high", "confidence", "replacement_mean", "bootstrap_reps"]
        return pd.DataFrame([{k: json.loads(f.read_text()).get(k) for k in keep} for f in files])

    @property
    def plan(self) -> dict[str, pd.DataFrame]:
        """The power analysis: `components` (variance components), `precision` and `power` tables."""
        self._path(paths.PLAN, "the config's `plan` section makes it")
        return {name: pd.read_parquet(self.root / pattern) for name, pattern in
                (("components", paths.PLAN_COMPONENTS), ("precision", paths.PLAN_PRECISION),
                 ("power", paths.PLAN_POWER))}  # fmt: skip

    def sweep(self, name: str):
        """A sweep of this study (daf.SweepResult: trials, best, importance, checkpoint)."""
        from daf.api.sweeps import SweepResult

        result = SweepResult(name, self.root)
        if not result.directory.is_dir():
            base = self.results / "sweeps"
            names = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
            raise UserError(f"this study has no sweep '{name}'; its sweeps: {', '.join(names) or 'none'}")
        return result

    # --- report -----------------------------------------------------------------------------
    def report(self, path: str | Path, config: str | Path | None = None) -> Path:
        """Regenerate the study's HTML report into `path` from its results, with the inputs the
        report rule last used (results/logs/report.jsonl): byte-identical to the rule's when
        nothing changed since. `config` overrides the study config the rule read."""
        from daf.report import build_report

        kwargs = self._report_arguments()
        if config is not None:
            kwargs["config_path"] = str(Path(config).resolve())
        out = Path(path).resolve()
        with contextlib.chdir(self.root):  # the rule ran here; its paths are relative to it
            if not Path(kwargs["config_path"]).is_file():
                raise UserError(f"the study config '{kwargs['config_path']}' the report rule read is gone; "
                                "pass config=PATH")  # fmt: skip
            build_report(out=str(out), **kwargs)
        return out

    def _report_arguments(self) -> dict:
        log = self.root / paths.logs("report")["json"]
        argv = None
        if log.is_file():
            for line in log.read_text().splitlines():
                record = json.loads(line)
                if record.get("phase") == "start" and "report" in record.get("argv", []):
                    argv = record["argv"]  # the last run's
        if argv is None:
            raise UserError(f"this study has no report log '{log.relative_to(self.root)}': run `snakemake report` "
                            "there once")  # fmt: skip
        argv = argv[argv.index("report") + 1 :]
        kwargs: dict = {}
        flag = None
        for item in argv:
            if item.startswith("--"):
                flag = item
                if flag in REPORT_FLAGS and REPORT_FLAGS[flag] in LISTS:
                    kwargs.setdefault(REPORT_FLAGS[flag], [])
            elif flag in REPORT_FLAGS:
                name = REPORT_FLAGS[flag]
                if name in LISTS:
                    kwargs[name].append(item)
                elif name == "plan_path" or name not in kwargs:
                    kwargs[name] = item
        return kwargs

"""The study as the Snakemake workflow sees it: which result files exist, and each job's
inputs, params and flags.

workflow/rules/common.smk builds one `StudyPlan` from the validated config and its rules ask
it (through small getters that take wildcards apart); the arithmetic lives here, where it is
importable and unit-tested: evaluation chunks, training seeds and runs, cross-play pairings,
VOR scenarios, sweep trials and rounds, and the flags a `daf` command takes. Every path comes
from daf/paths.py. A target outside the study (a typo'd path) is a one-line UserError naming
what the study has.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

from daf import paths
from daf.config.study import StudyConfig
from daf.errors import UserError
from daf.missions import get_mission, is_mission_file, mission_id
from daf.missions.teams import split_agents
from daf.policies import parse_spec
from daf.sweeps.space import planned_trials, tpe_slots

# report inputs passed as `--NAME FILE...` when the rule has any (a flag with no files is an error)
REPORT_INPUTS = (
    "vor", "train_logs", "replays", "variants", "curves", "plan", "crossplay", "crossplay_gaps", "nash", "alpharank",
)  # fmt: skip


def mission_files(*names: str) -> list[str]:
    """The names that are mission files (inputs of a job), not registered missions."""
    return [name for name in names if is_mission_file(name)]


def pool_flags(specs: list[str], labels: list[str], weights: list[float] | None = None) -> str:
    """A replacement pool as `daf evaluate` and `daf sweep run|best` take it: one --replacement
    SPEC per policy, their labels (tables name config policies, not specs), and their shares."""
    flags = " ".join(f"--replacement {shlex.quote(spec)}" for spec in specs)
    flags += " --replacement-labels " + ",".join(labels)
    if weights:
        flags += " --replacement-weights " + ",".join(map(str, weights))
    return flags


def report_flags(inputs: Mapping[str, list[str]], sweeps: list[str]) -> str:
    """The report rule's optional inputs as flags; a sweep is passed as its directory."""
    flags = [f"--{name.replace('_', '-')} " + " ".join(map(str, inputs[name])) for name in REPORT_INPUTS
             if list(inputs[name])]  # fmt: skip
    if sweeps:
        flags.append("--sweeps " + " ".join(str(Path(f).parent) for f in sweeps))
    return " ".join(flags)


def _copied(sidecar: Path) -> bool:
    """Whether a chunk's provenance sidecar says it was copied from an evaluation store."""
    try:
        store = json.loads(sidecar.read_text()).get("store")
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(store, dict) and store.get("reused") is True


class StudyPlan:
    """What the workflow needs to know of one validated study."""

    def __init__(self, study: StudyConfig):
        self.study = study
        self.policies = list(study.policies)
        self.trained = study.trained_policies()
        self.missions = {**study.variant_missions(), **study.mission_by_id()}  # result-path id -> name or file
        self.vor = study.vor
        self.vor_candidates = study.vor.candidates if study.vor else []
        self.curve_policies = self.trained if study.curves else []
        self.crossplay_missions = study.crossplay_missions()
        self.sweeps = study.sweeps
        self.variants = study.variants
        self.planned_sweeps = [name for name, s in self.sweeps.items() if s.strategy != "tpe"]  # grid, random
        self.tpe_sweeps = [name for name, s in self.sweeps.items() if s.strategy == "tpe"]
        self.planned_trials = {
            name: {t.id: t for t in planned_trials(self.sweeps[name])} for name in self.planned_sweeps
        }
        self.tpe_slots = {name: tpe_slots(self.sweeps[name]) for name in self.tpe_sweeps}  # [(round, trial id)]
        self._file_sha: dict[str, str] = {}

    @cached_property
    def mission_sha(self) -> dict[str, str]:
        """Each mission's config fingerprint, by result-path id: a param of its jobs, so changing a
        mission's game or success criterion reruns exactly that mission's jobs."""
        s = self.study
        trained = [m for p in self.trained for m in s.policies[p].train.mission_names()]
        swept = [m for name in s.sweeps for m in s.sweep_mission_names(name)]
        names = {**self.missions, **{mission_id(m): m for m in trained}, **{mission_id(m): m for m in swept}}
        return {mid: get_mission(name).fingerprint() for mid, name in names.items()}

    @cached_property
    def mission_agents(self) -> dict[str, int]:
        return {mid: get_mission(name).config().game.num_agents for mid, name in self.missions.items()}

    # --- evaluation and training -------------------------------------------------------------
    @cached_property
    def store(self):
        """The evaluation store (the config's `store.dir`, else $DAF_STORE), or None."""
        from daf.evaluation.store import Store

        configured = self.study.store.dir if self.study.store else None
        store = Store.from_env(configured)
        return None if store is None else Store(store.root.resolve())

    def reusable_chunk(self, policy: str, mission: str, run: int, chunk: int) -> str | None:
        """The store entry (its manifest) an evaluation chunk is copied from, when the DAG can
        know it: a store is set, the chunk was not played here (not made yet, or copied from
        the store: the producing rule stays the same, so a finished study has nothing to do),
        and the policy is not made by this study (a trained or swept network's weights exist
        only after its training: its `daf evaluate` job still copies a stored chunk with the
        same weights, at run time)."""
        from daf.evaluation.request import EvaluationRequest, store_key
        from daf.evaluation.store import MANIFEST

        store = self.store
        if store is None or policy in self.trained or not store.root.is_dir():
            return None
        made = Path(paths.EVAL_CHUNK_SIDECAR.format(policy=policy, mission=mission, run=run, chunk=chunk))
        if made.is_file() and not _copied(made):  # played here: `evaluate_chunk` stays its producer
            return None
        spec = self.study.policy_spec(policy, run)
        data = parse_spec(spec, check_files=False).data_path
        results = Path(paths.RESULTS).resolve()
        if data and (not Path(data).is_file() or Path(data).resolve().is_relative_to(results)):
            return None
        evaluation = self.study.evaluation
        request = EvaluationRequest(
            policy=spec, mission=self.missions[mission], episodes=self.chunk_size(chunk), seed=evaluation.seed,
            label=policy, num_envs=evaluation.num_envs, first_episode=self.chunk_first(chunk), run=run,
            replays=1 if chunk == 0 else 0,  # chunk 0 records its episode 0 (`replay_flags`)
        )  # fmt: skip
        try:
            key, _ = store_key(request, get_mission(self.missions[mission]))
        except UserError:
            return None
        # existence only: hashing every entry on every DAG build would be the slow part of a large
        # study's dry run; the `daf evaluate` job verifies the checksums before copying (a corrupt
        # entry is played and replaced there)
        manifest = store.entry(key).path / MANIFEST
        return str(manifest) if manifest.is_file() else None

    def eval_tables(self) -> list[str]:
        """One table per policy x mission it plays (a trained network only plays missions like its own)."""
        return [paths.EVAL.format(policy=p, mission=m) for p in self.policies for m in self.study.policy_missions(p)]

    def chunk_first(self, chunk: int) -> int:
        return chunk * self.study.evaluation.chunk

    def chunk_size(self, chunk: int) -> int:
        """Episodes of a chunk: `evaluation.chunk`, fewer in the last one (not the total: a larger
        `episodes` leaves full chunks alone)."""
        evaluation = self.study.evaluation
        return min(evaluation.chunk, evaluation.episodes - self.chunk_first(chunk))

    def evaluation_chunks(self, policy: str, mission: str) -> list[str]:
        """Every run x chunk of a policy x mission (runs: the policy's training seeds, else 0)."""
        chunks = range(-(-self.study.evaluation.episodes // self.study.evaluation.chunk))
        return [paths.EVAL_CHUNK.format(policy=policy, mission=mission, run=run, chunk=c)
                for run in self.study.policy_runs(policy) for c in chunks]  # fmt: skip

    def checked_seed(self, policy: str, seed: int) -> int:
        """A train job's seed, which must be one of the policy's `seeds` (a typo'd target path fails)."""
        seeds = self.study.policies[policy].train.run_seeds()
        if seed not in seeds:
            raise UserError(f"policy '{policy}' has no training seed {seed}; its seeds: {seeds}")
        return seed

    def run_inputs(self, policy: str, mission: str, run: int) -> list[str]:
        """Files a run's evaluation reads: a mission file and the run's weights (the checkpoint of
        a trained policy comes from its `train` job)."""
        runs = self.study.policy_runs(policy)
        if run not in runs:
            raise UserError(f"policy '{policy}' has no run {run}; its runs: {runs}")
        return mission_files(self.missions[mission]) + self._weights(policy, run)

    def evaluate_files(self, *policies: str, mission: str) -> list[str]:
        """Inputs of an evaluation of these policies (run 0): mission file, weights files."""
        return mission_files(self.missions[mission]) + [f for p in policies for f in self._weights(p)]

    def _weights(self, policy: str, run: int | None = None) -> list[str]:
        data = parse_spec(self.study.policy_spec(policy, run), check_files=False).data_path
        return [data] if data else []

    def train_logs(self, policy: str) -> list[str]:
        return [paths.TRAIN_LOG.format(policy=policy, seed=s) for s in self.study.policy_runs(policy)]

    def weights_sha(self, *policies: str) -> str:
        """sha256 of the weights files of policies given as `data=PATH` specs. Profiles rerun on
        params, not modification times, so a changed file reruns its jobs and a touched one does
        not. Trained policies' checkpoints are outputs of `train`: the DAG reruns their dependents."""
        digests = []
        for policy in policies:
            if policy in self.trained or (self.study.policies[policy].spec or "").startswith("sweep:"):
                continue
            digests += [self.file_sha(data) for data in self._weights(policy)]
        return ",".join(digests)

    def file_sha(self, path: str) -> str:
        """sha256 of a weights file, read once per plan (every evaluation chunk asks for it)."""
        from daf.policies.checkpoint import sha256_file  # imports torch: only when a study names a weights file

        if path not in self._file_sha:
            self._file_sha[path] = sha256_file(path) if Path(path).is_file() else "missing"
        return self._file_sha[path]

    def hyperparameter_flags(self, policy: str) -> str:
        """Every hyperparameter, explicitly: a changed default then reruns training too."""
        hp = self.study.policies[policy].train.hyperparameters.model_dump(mode="json")
        return " ".join(f"--set {shlex.quote(f'{k}={json.dumps(v)}')}" for k, v in hp.items())

    def train_mission_flags(self, policy: str) -> str:
        """--mission (repeated), --mission-weights, --preset and --shape flags of a policy's train settings."""
        settings = self.study.policies[policy].train
        flags = " ".join(f"--mission {shlex.quote(m)}" for m in settings.mission_names())
        if settings.mission_weights:
            flags += " --mission-weights " + ",".join(map(str, settings.mission_weights))
        if settings.preset:
            flags += f" --preset {settings.preset}"
        for stat, weight in sorted(settings.shaping.items()):
            flags += f" --shape {shlex.quote(f'{stat}={weight}')}"
        return flags

    def tracking_flags(self) -> str:
        return "--tensorboard" if self.study.tracking.tensorboard else ""

    @cached_property
    def tracking_targets(self):
        """The config's MLflow / W&B targets (daf.tracking.TrackingTargets) or None: the jobs
        read them from $DAF_TRACKING, so they are not in any command and changing them reruns
        nothing (TensorBoard is a flag: its files are outputs of the run)."""
        return self.study.tracking.targets()

    # --- curves, comparison, plan ---------------------------------------------------------------

    def curve_summary_tables(self) -> list[str]:
        """What `curves_summary` writes (per-policy tables, summary, final vs best), for the report."""
        if not self.curve_policies:
            return []
        return [*(paths.CURVE_POLICY.format(policy=p) for p in self.curve_policies), paths.CURVES_SUMMARY,
                paths.FINAL_VS_BEST]  # fmt: skip

    def curve_reference_tables(self) -> list[str]:
        """The normalisation pair's evaluations on the curve missions (they set ALL's 0 and 1)."""
        norm = self.study.compare.normalization
        if not (self.curve_policies and norm):
            return []
        missions = sorted({m for p in self.curve_policies for m in self.study.policy_missions(p)})
        return [paths.EVAL.format(policy=ref, mission=m) for ref in (norm.low, norm.high) for m in missions]

    def compare_normalize_flag(self) -> str:
        norm = self.study.compare.normalization
        return f"--normalize {norm.low},{norm.high}" if norm else ""

    def plan_flags(self) -> str:
        plan = self.study.plan
        if plan is None:
            return ""
        flags = f"--power {plan.power} --max-runs {plan.max_runs} --sims {plan.sims}"
        flags += f" --half-width {plan.half_width}" if plan.half_width else ""
        flags += f" --difference {plan.difference}" if plan.difference else ""
        flags += (" --pairs " + " ".join(plan.pairs)) if plan.pairs else ""
        return flags

    # --- VOR -------------------------------------------------------------------------------------

    def vor_replacement_flags(self) -> str:
        return self._pool(self.vor.replacement, self.vor.replacement_weights)

    def _pool(self, names: list[str], weights: list[float] | None) -> str:
        return pool_flags([self.study.policy_spec(p) for p in names], names, weights)

    def vor_scenario_tables(self, candidate: str) -> list[str]:
        """A candidate's scenario tables k = 1..N of every training run on each VOR mission, and
        the mission's all-replacement one (shared by the runs)."""
        tables = []
        for mission in self.study.vor_missions(candidate):
            tables += [paths.VOR_SCENARIO.format(candidate=candidate, mission=mission, run=run, k=k)
                       for run in self.study.policy_runs(candidate)
                       for k in range(1, self.mission_agents[mission] + 1)]  # fmt: skip
            tables.append(paths.VOR_REPLACEMENT.format(mission=mission))
        return tables

    def vor_outputs(self) -> list[str]:
        return [paths.VOR.format(candidate=c) for c in self.vor_candidates]

    # --- cross-play --------------------------------------------------------------------------------

    def crossplay_players(self, mission: str) -> list[str]:
        """The cross-play policies that play `mission` (the others' cells are skipped with a note)."""
        return [p for p in self.study.crossplay.policies if mission in self.study.policy_missions(p)]

    def crossplay_counts(self, mission: str) -> list[int]:
        """A's agent counts of the splits on `mission`; splits giving the same count share jobs."""
        agents = self.mission_agents[mission]
        return sorted({split_agents(s, agents, mission) for s in self.study.crossplay.splits})

    def crossplay_pairings(self, a: str, b: str) -> list[tuple[int, int]]:
        """(A's run, B's run) of a cell's jobs: pairing i plays A's i-th run with B's i-th, cycling
        the shorter list, so every run of both policies plays (max(runs) jobs, not runs x runs)."""
        runs_a, runs_b = self.study.policy_runs(a), self.study.policy_runs(b)
        return [(runs_a[i % len(runs_a)], runs_b[i % len(runs_b)]) for i in range(max(len(runs_a), len(runs_b)))]

    def crossplay_cells(self, mission: str) -> list[str]:
        players = self.crossplay_players(mission)
        return [paths.CROSSPLAY_CELL.format(mission=mission, policy=a, partner=b, k=k, run=r, partner_run=rb)
                for k in self.crossplay_counts(mission) for a in players for b in players if a != b
                for r, rb in self.crossplay_pairings(a, b)]  # fmt: skip

    def crossplay_cell_inputs(self, mission: str, policy: str, partner: str, k: int, run: int, partner_run: int):
        """A cell's mission file and the weights of A's and B's runs; a target outside the study fails."""
        inside = (
            mission in self.crossplay_missions
            and not {policy, partner} - set(self.crossplay_players(mission))
            and policy != partner
            and k in self.crossplay_counts(mission)
            and (run, partner_run) in self.crossplay_pairings(policy, partner)
        )
        if not inside:
            cell = f"{policy} (run {run}) with {partner} (run {partner_run}) on {k} agents of {mission}"
            raise UserError(f"no cross-play cell {cell} in this study (crossplay: {self.study.crossplay})")
        return mission_files(self.missions[mission]) + self._weights(policy, run) + self._weights(partner, partner_run)

    def crossplay_unplayable_flags(self, mission: str) -> str:
        return " ".join(f"--unplayable {shlex.quote(f'{p}={why}')}"
                        for p, why in self.study.crossplay_unplayable(mission).items())  # fmt: skip

    # --- population rankings --------------------------------------------------------------------

    def nash_tables(self) -> list[str]:
        """The evaluation tables of the Nash game's policies and missions (and of the normalisation's
        reference policies there)."""
        study = self.study
        norm = study.compare.normalization
        refs = [norm.low, norm.high] if norm else []
        policies = list(dict.fromkeys([*study.nash_policies(), *refs]))
        return [paths.EVAL.format(policy=p, mission=m) for p in policies for m in study.nash_missions()]

    def nash_flags(self) -> str:
        study = self.study
        return (f"--policies {','.join(study.nash_policies())} --missions {','.join(study.nash_missions())} "
                + self.compare_normalize_flag()).strip()  # fmt: skip

    def population_outputs(self) -> dict[str, list[str]]:
        """The report's population inputs: the Nash table and each α-Rank table (empty when off)."""
        study = self.study
        return {
            "nash": [paths.NASH] if study.nash_missions() else [],
            "alpharank": [paths.ALPHARANK.format(mission=m) for m in study.alpharank_missions()],
        }

    def alpharank_flags(self) -> str:
        ranked = self.study.population.alpharank
        flags = f"--population-size {ranked.population_size} --selection {ranked.selection} --payoff {ranked.payoff}"
        return flags + (f" --alpha {ranked.alpha!r}" if ranked.alpha is not None else "")

    # --- sweeps and variants -------------------------------------------------------------------------

    def sweep_trial_ids(self, sweep: str) -> list[str]:
        if sweep in self.planned_trials:
            return list(self.planned_trials[sweep])
        return [tid for _, tid in self.tpe_slots[sweep]]

    def sweep_runs(self, sweep: str, trials: list[str] | None = None) -> list[str]:
        return [paths.SWEEP_RUN.format(sweep=sweep, trial=t, seed=s)
                for t in (trials or self.sweep_trial_ids(sweep)) for s in self.sweeps[sweep].seeds]  # fmt: skip

    def sweep_base(self, sweep: str) -> str:
        """The tuned policy's train settings (the trial's hyperparameters and seed go on top)."""
        base = self.study.policies[self.sweeps[sweep].policy].train.model_dump(mode="json")
        base.pop("seed")
        base.pop("seeds")  # a trial's seeds are the sweep's
        base["steps"] = self.sweeps[sweep].steps or base["steps"]
        return json.dumps(base, sort_keys=True)

    def sweep_replacement_flags(self, sweep: str) -> str:
        if self.sweeps[sweep].objective.metric != "vor":
            return ""
        return self._pool(self.study.sweep_replacement(sweep), self.study.sweep_replacement_weights(sweep))

    def sweep_json(self, sweep: str) -> str:
        return json.dumps(self.sweeps[sweep].model_dump(mode="json"), sort_keys=True)

    def sweep_best_inputs(self) -> list[str]:
        return [paths.SWEEP_BEST.format(sweep=name) for name in self.sweeps]

    def variant_tables(self, name: str) -> list[str]:
        variant = self.variants[name]
        return [paths.EVAL.format(policy=p, mission=mission_id(m)) for p in variant.policies
                for m in variant.mission_names()]  # fmt: skip

    def sweep_mission_inputs(self, sweep: str) -> list[str]:
        train = self.study.policies[self.sweeps[sweep].policy].train
        return mission_files(*train.mission_names(), *self.study.sweep_mission_names(sweep))

    def sweep_run_params(self, sweep: str) -> dict:
        """Everything a run's result depends on (a change reruns it; a larger budget does not)."""
        s = self.sweeps[sweep]
        missions = self.study.sweep_mission_names(sweep)
        return {
            "base": self.sweep_base(sweep),
            "missions": " ".join(shlex.quote(m) for m in missions),
            "mission_sha": [self.mission_sha[mission_id(m)] for m in missions],
            "episodes": s.episodes,
            "eval_seed": s.evaluation_seed,
            "metric": s.objective.metric,
            "direction": s.objective.direction,
            "replacement": self.sweep_replacement_flags(sweep),
            "num_envs": self.study.evaluation.num_envs,  # the study's evaluations batch episodes the same way
        }

    def tpe_previous_round(self, sweep: str, trial: str) -> list[str]:
        """tpe: a trial of round r is asked once every trial of round r-1 is told."""
        rounds = dict((tid, r) for r, tid in self.tpe_slots[sweep])
        previous = [tid for r, tid in self.tpe_slots[sweep] if r == rounds[trial] - 1]
        return [paths.SWEEP_TOLD.format(sweep=sweep, trial=tid) for tid in previous]

    def tpe_round_runs(self, sweep: str, trial: str) -> list[str]:
        """tpe: a trial is told once every trial of its round has finished. Until then no trial of
        the round is complete, so the median pruner compares a running trial with earlier rounds
        only, and the sweep does not depend on which job happened to finish first."""
        rounds = dict((tid, r) for r, tid in self.tpe_slots[sweep])
        return self.sweep_runs(sweep, [tid for r, tid in self.tpe_slots[sweep] if r == rounds[trial]])

    def sweep_pruner_flag(self, sweep: str) -> str:
        pruner = self.sweeps[sweep].pruner
        return f"--pruner {shlex.quote(json.dumps(pruner.model_dump(mode='json'), sort_keys=True))}" if pruner else ""

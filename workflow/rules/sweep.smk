# Hyperparameter sweeps (daf.sweep) and variant sweeps. A run = one trial x one training
# seed: one job trains it and evaluates it (a failure of the trial itself is recorded in
# run.json as failed, never scored). grid/random trials are known from the config; tpe
# trials are asked from Optuna round by round (round r waits for every trial of round r-1).
wildcard_constraints:
    sweep="|".join(map(re.escape, SWEEPS)) or "(?!)",
    seed=r"\d+",
    variant="|".join(map(re.escape, VARIANTS)) or "(?!)",


def _planned(w):
    return PLANNED_TRIALS[w.sweep][w.trial].params


def _sweep_mission_files(w):
    return mission_files(train_settings(SWEEPS[w.sweep].policy).mission, *STUDY.sweep_mission_names(w.sweep))


def _run_params(w):
    """Everything a run's result depends on (a change reruns it; a larger budget does not)."""
    sweep = SWEEPS[w.sweep]
    return {
        "base": sweep_base(w.sweep),
        "missions": " ".join(shlex.quote(m) for m in STUDY.sweep_mission_names(w.sweep)),
        "mission_sha": [MISSION_SHA[mission_id(m)] for m in STUDY.sweep_mission_names(w.sweep)],
        "episodes": sweep.episodes,
        "eval_seed": sweep.evaluation_seed,
        "metric": sweep.objective.metric,
        "direction": sweep.objective.direction,
        "replacement": sweep_replacement_flags(w.sweep),
    }


rule sweep_run:
    input:
        _sweep_mission_files,
    output:
        "results/sweeps/{sweep}/trials/{trial}/seed{seed}/run.json",
    wildcard_constraints:
        sweep="|".join(map(re.escape, PLANNED_SWEEPS)) or "(?!)",
        trial=r"t[0-9a-f]{8}",
    params:
        trial=lambda w: json.dumps(_planned(w), sort_keys=True),
        run=_run_params,
        version=RULE_VERSIONS["sweep"],
    log:
        "results/logs/sweeps/{sweep}/{trial}/seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sweep}/{trial}/seed{seed}.tsv"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=240,
    shell:
        "daf sweep run --trial {wildcards.trial} --seed {wildcards.seed} --params {params.trial:q}"
        " --base {params.run[base]:q} --missions {params.run[missions]} --episodes {params.run[episodes]}"
        " --eval-seed {params.run[eval_seed]} --metric {params.run[metric]} --direction {params.run[direction]}"
        " {params.run[replacement]} --device auto --out results/sweeps/{wildcards.sweep}/trials/{wildcards.trial}/seed{wildcards.seed}"
        " > {log} 2>&1"


def _previous_round(w):
    """tpe: a trial of round r is asked once every trial of round r-1 is told."""
    rounds = dict((tid, r) for r, tid in TPE_SLOTS[w.sweep])
    previous = [tid for r, tid in TPE_SLOTS[w.sweep] if r == rounds[w.trial] - 1]
    return [f"results/sweeps/{w.sweep}/trials/{tid}/told.json" for tid in previous]


rule sweep_ask:
    input:
        _previous_round,
    output:
        "results/sweeps/{sweep}/trials/{trial}/proposal.json",
    wildcard_constraints:
        sweep="|".join(map(re.escape, TPE_SWEEPS)) or "(?!)",
        trial=r"r\d{3}-\d{3}",
    params:
        space=lambda w: json.dumps({k: v.model_dump(mode="json") for k, v in SWEEPS[w.sweep].space.items()},
                                   sort_keys=True),
        direction=lambda w: SWEEPS[w.sweep].objective.direction,
        sampler_seed=lambda w: SWEEPS[w.sweep].sampler_seed,
        startup=lambda w: SWEEPS[w.sweep].startup_trials,
        index=lambda w: [tid for _, tid in TPE_SLOTS[w.sweep]].index(w.trial),
        version=RULE_VERSIONS["sweep"],
    log:
        "results/logs/sweeps/{sweep}/{trial}/ask.log",
    shell:
        "daf sweep ask --space {params.space:q} --direction {params.direction} --sampler-seed {params.sampler_seed}"
        " --startup-trials {params.startup} --journal results/sweeps/{wildcards.sweep}/optuna.journal"
        " --study-name {wildcards.sweep} --trial {wildcards.trial} --index {params.index} --out {output} > {log} 2>&1"


def _pruner_flag(w):
    pruner = SWEEPS[w.sweep].pruner
    return "--pruner " + shlex.quote(json.dumps(pruner.model_dump(mode="json"), sort_keys=True)) if pruner else ""


rule sweep_run_tpe:
    input:
        missions=_sweep_mission_files,
        proposal="results/sweeps/{sweep}/trials/{trial}/proposal.json",
    output:
        "results/sweeps/{sweep}/trials/{trial}/seed{seed}/run.json",
    wildcard_constraints:
        sweep="|".join(map(re.escape, TPE_SWEEPS)) or "(?!)",
        trial=r"r\d{3}-\d{3}",
    params:
        run=_run_params,
        pruner=_pruner_flag,
        reporter=lambda w: "--reporter" if int(w.seed) == SWEEPS[w.sweep].seeds[0] else "",
        version=RULE_VERSIONS["sweep"],
    log:
        "results/logs/sweeps/{sweep}/{trial}/seed{seed}.log",
    benchmark:
        "results/benchmarks/sweeps/{sweep}/{trial}/seed{seed}.tsv"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=240,
    shell:
        "daf sweep run --trial {wildcards.trial} --seed {wildcards.seed} --proposal {input.proposal}"
        " --base {params.run[base]:q} --missions {params.run[missions]} --episodes {params.run[episodes]}"
        " --eval-seed {params.run[eval_seed]} --metric {params.run[metric]} --direction {params.run[direction]}"
        " {params.run[replacement]} --journal results/sweeps/{wildcards.sweep}/optuna.journal"
        " --study-name {wildcards.sweep} {params.pruner} {params.reporter} --device auto"
        " --out results/sweeps/{wildcards.sweep}/trials/{wildcards.trial}/seed{wildcards.seed} > {log} 2>&1"


rule sweep_tell:
    input:
        proposal="results/sweeps/{sweep}/trials/{trial}/proposal.json",
        runs=lambda w: sweep_runs(w.sweep, [w.trial]),
    output:
        "results/sweeps/{sweep}/trials/{trial}/told.json",
    wildcard_constraints:
        trial=r"r\d{3}-\d{3}",
    params:
        direction=lambda w: SWEEPS[w.sweep].objective.direction,
        version=RULE_VERSIONS["sweep"],
    log:
        "results/logs/sweeps/{sweep}/{trial}/tell.log",
    shell:
        "daf sweep tell --direction {params.direction} --journal results/sweeps/{wildcards.sweep}/optuna.journal"
        " --study-name {wildcards.sweep} --proposal {input.proposal} --runs {input.runs} --out {output} > {log} 2>&1"


rule sweep_summary:
    input:
        runs=lambda w: sweep_runs(w.sweep),
        told=lambda w: [f"results/sweeps/{w.sweep}/trials/{t}/told.json" for _, t in TPE_SLOTS.get(w.sweep, [])],
    output:
        table="results/sweeps/{sweep}/trials.parquet",
        csv=report("results/sweeps/{sweep}/trials.csv", caption="../report/sweep.rst", category="Sweeps",
                   subcategory="{sweep}"),
        importance="results/sweeps/{sweep}/importance.parquet",
        summary="results/sweeps/{sweep}/summary.json",
    params:
        sweep=lambda w: sweep_json(w.sweep),
        version=RULE_VERSIONS["sweep"],
    log:
        "results/logs/sweeps/{sweep}/summary.log",
    shell:
        "daf sweep summarize --sweep-json {params.sweep:q} --runs {input.runs} --out results/sweeps/{wildcards.sweep}"
        " > {log} 2>&1"


rule sweep_best:
    input:
        summary="results/sweeps/{sweep}/summary.json",
        runs=lambda w: sweep_runs(w.sweep),
    output:
        best="results/sweeps/{sweep}/best.json",
        top="results/sweeps/{sweep}/top.parquet",
        reevaluations="results/sweeps/{sweep}/reevaluations.parquet",
        model="results/sweeps/{sweep}/best/model.pt",
        sidecar="results/sweeps/{sweep}/best/model.json",
    params:
        sweep=lambda w: sweep_json(w.sweep),
        replacement=lambda w: sweep_replacement_flags(w.sweep),
        confidence=STUDY.compare.confidence,
        reps=STUDY.compare.bootstrap_reps,
        version=RULE_VERSIONS["sweep"],
    log:
        "results/logs/sweeps/{sweep}/best.log",
    benchmark:
        "results/benchmarks/sweeps/{sweep}/best.tsv"
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "daf sweep best --sweep-json {params.sweep:q} --name {wildcards.sweep} --summary {input.summary}"
        " --runs {input.runs} {params.replacement} --confidence {params.confidence} --reps {params.reps}"
        " --out results/sweeps/{wildcards.sweep} > {log} 2>&1"


# Variant sweeps: policies across a mission family's variants (the evaluate rule plays them).
rule variants:
    input:
        lambda w: variant_tables(w.variant),
    output:
        table="results/variants/{variant}.parquet",
        csv=report("results/variants/{variant}.csv", caption="../report/variants.rst", category="Variants"),
    params:
        confidence=STUDY.compare.confidence,
        reps=STUDY.compare.bootstrap_reps,
        seed=STUDY.evaluation.seed,
        version=RULE_VERSIONS["compare"],
    log:
        "results/logs/variants/{variant}.log",
    shell:
        "daf summarize --evals {input} --out {output.table} --csv {output.csv} --confidence {params.confidence}"
        " --reps {params.reps} --seed {params.seed} > {log} 2>&1"

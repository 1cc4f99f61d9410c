# Hyperparameter sweeps (daf.sweep) and variant sweeps. A run = one trial x one training
# seed: one job trains it and evaluates it (a failure of the trial itself is recorded in
# run.json as failed, never scored). grid/random trials are known from the config; tpe
# trials are asked from Optuna round by round (round r waits for every trial of round r-1).
wildcard_constraints:
    sweep="|".join(map(re.escape, SWEEPS)) or "(?!)",
    seed=r"\d+",
    variant="|".join(map(re.escape, VARIANTS)) or "(?!)",


rule sweep_run:
    input:
        sweep_mission_inputs,
    output:
        "results/sweeps/{sweep}/trials/{trial}/seed{seed}/run.json",
    wildcard_constraints:
        sweep="|".join(map(re.escape, PLANNED_SWEEPS)) or "(?!)",
        trial=r"t[0-9a-f]{8}",
    params:
        trial=lambda w: json.dumps(planned_trial_params(w), sort_keys=True),
        run=sweep_run_params,
        version=RULE_VERSIONS["sweep"],
    log:
        text="results/logs/sweeps/{sweep}/{trial}/seed{seed}.log",
        json="results/logs/sweeps/{sweep}/{trial}/seed{seed}.jsonl",
    benchmark:
        "results/benchmarks/sweeps/{sweep}/{trial}/seed{seed}.tsv"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=240,
    shell:
        "daf --log-json {log.json} sweep run --trial {wildcards.trial} --seed {wildcards.seed} --params {params.trial:q}"
        " --base {params.run[base]:q} --missions {params.run[missions]} --episodes {params.run[episodes]}"
        " --eval-seed {params.run[eval_seed]} --metric {params.run[metric]} --direction {params.run[direction]}"
        " {params.run[replacement]} --num-envs {params.run[num_envs]} --device auto"
        " --out results/sweeps/{wildcards.sweep}/trials/{wildcards.trial}/seed{wildcards.seed}"
        " > {log.text} 2>&1"


rule sweep_ask:
    input:
        tpe_previous_round,
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
        text="results/logs/sweeps/{sweep}/{trial}/ask.log",
        json="results/logs/sweeps/{sweep}/{trial}/ask.jsonl",
    shell:
        "daf --log-json {log.json} sweep ask --space {params.space:q} --direction {params.direction} --sampler-seed {params.sampler_seed}"
        " --startup-trials {params.startup} --journal results/sweeps/{wildcards.sweep}/optuna.journal"
        " --study-name {wildcards.sweep} --trial {wildcards.trial} --index {params.index} --out {output} > {log.text} 2>&1"


rule sweep_run_tpe:
    input:
        missions=sweep_mission_inputs,
        proposal="results/sweeps/{sweep}/trials/{trial}/proposal.json",
    output:
        "results/sweeps/{sweep}/trials/{trial}/seed{seed}/run.json",
    wildcard_constraints:
        sweep="|".join(map(re.escape, TPE_SWEEPS)) or "(?!)",
        trial=r"r\d{3}-\d{3}",
    params:
        run=sweep_run_params,
        pruner=sweep_pruner_flag,
        reporter=lambda w: "--reporter" if int(w.seed) == SWEEPS[w.sweep].seeds[0] else "",
        version=RULE_VERSIONS["sweep"],
    log:
        text="results/logs/sweeps/{sweep}/{trial}/seed{seed}.log",
        json="results/logs/sweeps/{sweep}/{trial}/seed{seed}.jsonl",
    benchmark:
        "results/benchmarks/sweeps/{sweep}/{trial}/seed{seed}.tsv"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=240,
    shell:
        "daf --log-json {log.json} sweep run --trial {wildcards.trial} --seed {wildcards.seed} --proposal {input.proposal}"
        " --base {params.run[base]:q} --missions {params.run[missions]} --episodes {params.run[episodes]}"
        " --eval-seed {params.run[eval_seed]} --metric {params.run[metric]} --direction {params.run[direction]}"
        " {params.run[replacement]} --num-envs {params.run[num_envs]} --journal results/sweeps/{wildcards.sweep}/optuna.journal"
        " --study-name {wildcards.sweep} {params.pruner} {params.reporter} --device auto"
        " --out results/sweeps/{wildcards.sweep}/trials/{wildcards.trial}/seed{wildcards.seed} > {log.text} 2>&1"


rule sweep_tell:
    input:
        proposal="results/sweeps/{sweep}/trials/{trial}/proposal.json",
        runs=lambda w: sweep_runs(w.sweep, [w.trial]),
        round=tpe_round_runs,
    output:
        "results/sweeps/{sweep}/trials/{trial}/told.json",
    wildcard_constraints:
        trial=r"r\d{3}-\d{3}",
    params:
        direction=lambda w: SWEEPS[w.sweep].objective.direction,
        version=RULE_VERSIONS["sweep"],
    log:
        text="results/logs/sweeps/{sweep}/{trial}/tell.log",
        json="results/logs/sweeps/{sweep}/{trial}/tell.jsonl",
    shell:
        "daf --log-json {log.json} sweep tell --direction {params.direction} --journal results/sweeps/{wildcards.sweep}/optuna.journal"
        " --study-name {wildcards.sweep} --proposal {input.proposal} --runs {input.runs} --out {output} > {log.text} 2>&1"


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
        text="results/logs/sweeps/{sweep}/summary.log",
        json="results/logs/sweeps/{sweep}/summary.jsonl",
    shell:
        "daf --log-json {log.json} sweep rank --sweep-json {params.sweep:q} --runs {input.runs} --out results/sweeps/{wildcards.sweep}"
        " > {log.text} 2>&1"


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
        num_envs=STUDY.evaluation.num_envs,
        confidence=STUDY.compare.confidence,
        reps=STUDY.compare.bootstrap_reps,
        version=RULE_VERSIONS["sweep_best"],
    log:
        text="results/logs/sweeps/{sweep}/best.log",
        json="results/logs/sweeps/{sweep}/best.jsonl",
    benchmark:
        "results/benchmarks/sweeps/{sweep}/best.tsv"
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "daf --log-json {log.json} sweep best --sweep-json {params.sweep:q} --name {wildcards.sweep} --summary {input.summary}"
        " --runs {input.runs} {params.replacement} --num-envs {params.num_envs} --confidence {params.confidence}"
        " --reps {params.reps}"
        " --out results/sweeps/{wildcards.sweep} > {log.text} 2>&1"


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
        text="results/logs/variants/{variant}.log",
        json="results/logs/variants/{variant}.jsonl",
    shell:
        "daf --log-json {log.json} summarize --evals {input} --out {output.table} --csv {output.csv} --confidence {params.confidence}"
        " --reps {params.reps} --seed {params.seed} > {log.text} 2>&1"

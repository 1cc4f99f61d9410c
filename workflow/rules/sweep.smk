# Hyperparameter sweeps (daf.sweeps.space) and variant sweeps. A run = one trial x one training
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
        paths.SWEEP_RUN,
    wildcard_constraints:
        sweep="|".join(map(re.escape, PLANNED_SWEEPS)) or "(?!)",
        trial=r"t[0-9a-f]{8}",
    params:
        trial=lambda w: json.dumps(planned_trial_params(w), sort_keys=True),
        run=sweep_run_params,
        version=RULE_VERSIONS["sweep"],
    log:
        **paths.logs("sweeps/{sweep}/{trial}/seed{seed}"),
    benchmark:
        paths.benchmark("sweeps/{sweep}/{trial}/seed{seed}")
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
        " --out $(dirname {output}) > {log.text} 2>&1"


rule sweep_ask:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        tpe_previous_round,
    output:
        paths.SWEEP_PROPOSAL,
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
        journal=lambda w: paths.SWEEP_JOURNAL.format(sweep=w.sweep),
    log:
        **paths.logs("sweeps/{sweep}/{trial}/ask"),
    shell:
        "daf --log-json {log.json} sweep ask --space {params.space:q} --direction {params.direction} --sampler-seed {params.sampler_seed}"
        " --startup-trials {params.startup} --journal {params.journal}"
        " --study-name {wildcards.sweep} --trial {wildcards.trial} --index {params.index} --out {output} > {log.text} 2>&1"


rule sweep_run_tpe:
    input:
        missions=sweep_mission_inputs,
        proposal=paths.SWEEP_PROPOSAL,
    output:
        paths.SWEEP_RUN,
    wildcard_constraints:
        sweep="|".join(map(re.escape, TPE_SWEEPS)) or "(?!)",
        trial=r"r\d{3}-\d{3}",
    params:
        run=sweep_run_params,
        pruner=sweep_pruner_flag,
        reporter=lambda w: "--reporter" if int(w.seed) == SWEEPS[w.sweep].seeds[0] else "",
        version=RULE_VERSIONS["sweep"],
        journal=lambda w: paths.SWEEP_JOURNAL.format(sweep=w.sweep),
    log:
        **paths.logs("sweeps/{sweep}/{trial}/seed{seed}"),
    benchmark:
        paths.benchmark("sweeps/{sweep}/{trial}/seed{seed}")
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=240,
    shell:
        "daf --log-json {log.json} sweep run --trial {wildcards.trial} --seed {wildcards.seed} --proposal {input.proposal}"
        " --base {params.run[base]:q} --missions {params.run[missions]} --episodes {params.run[episodes]}"
        " --eval-seed {params.run[eval_seed]} --metric {params.run[metric]} --direction {params.run[direction]}"
        " {params.run[replacement]} --num-envs {params.run[num_envs]} --journal {params.journal}"
        " --study-name {wildcards.sweep} {params.pruner} {params.reporter} --device auto"
        " --out $(dirname {output}) > {log.text} 2>&1"


rule sweep_tell:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        proposal=paths.SWEEP_PROPOSAL,
        runs=lambda w: sweep_runs(w.sweep, [w.trial]),
        round=tpe_round_runs,
    output:
        paths.SWEEP_TOLD,
    wildcard_constraints:
        trial=r"r\d{3}-\d{3}",
    params:
        direction=lambda w: SWEEPS[w.sweep].objective.direction,
        version=RULE_VERSIONS["sweep"],
        journal=lambda w: paths.SWEEP_JOURNAL.format(sweep=w.sweep),
    log:
        **paths.logs("sweeps/{sweep}/{trial}/tell"),
    shell:
        "daf --log-json {log.json} sweep tell --direction {params.direction} --journal {params.journal}"
        " --study-name {wildcards.sweep} --proposal {input.proposal} --runs {input.runs} --out {output} > {log.text} 2>&1"


rule sweep_summary:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        runs=lambda w: sweep_runs(w.sweep),
        told=lambda w: [paths.SWEEP_TOLD.format(sweep=w.sweep, trial=t) for _, t in TPE_SLOTS.get(w.sweep, [])],
    output:
        table=paths.SWEEP_TRIALS,
        csv=report(paths.SWEEP_TRIALS_CSV, caption="../report/sweep.rst", category="Sweeps",
                   subcategory="{sweep}"),
        importance=paths.SWEEP_IMPORTANCE,
        summary=paths.SWEEP_SUMMARY,
    params:
        sweep=lambda w: sweep_json(w.sweep),
        version=RULE_VERSIONS["sweep"],
    log:
        **paths.logs("sweeps/{sweep}/summary"),
    shell:
        "daf --log-json {log.json} sweep rank --sweep-json {params.sweep:q} --runs {input.runs} --out $(dirname {output.summary})"
        " > {log.text} 2>&1"


rule sweep_best:
    input:
        summary=paths.SWEEP_SUMMARY,
        runs=lambda w: sweep_runs(w.sweep),
    output:
        best=paths.SWEEP_BEST,
        top=paths.SWEEP_TOP,
        reevaluations=paths.SWEEP_REEVALUATIONS,
        model=paths.SWEEP_BEST_MODEL,
        sidecar=paths.SWEEP_BEST_SIDECAR,
    params:
        sweep=lambda w: sweep_json(w.sweep),
        replacement=lambda w: sweep_replacement_flags(w.sweep),
        num_envs=STUDY.evaluation.num_envs,
        confidence=STUDY.compare.confidence,
        reps=STUDY.compare.bootstrap_reps,
        version=RULE_VERSIONS["sweep_best"],
    log:
        **paths.logs("sweeps/{sweep}/best"),
    benchmark:
        paths.benchmark("sweeps/{sweep}/best")
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "daf --log-json {log.json} sweep best --sweep-json {params.sweep:q} --name {wildcards.sweep} --summary {input.summary}"
        " --runs {input.runs} {params.replacement} --num-envs {params.num_envs} --confidence {params.confidence}"
        " --reps {params.reps}"
        " --out $(dirname {output.best}) > {log.text} 2>&1"


# Variant sweeps: policies across a mission family's variants (the evaluate rule plays them).
rule variants:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        lambda w: variant_tables(w.variant),
    output:
        table=paths.VARIANT,
        csv=report(paths.VARIANT_CSV, caption="../report/variants.rst", category="Variants"),
    params:
        confidence=STUDY.compare.confidence,
        reps=STUDY.compare.bootstrap_reps,
        seed=STUDY.evaluation.seed,
        version=RULE_VERSIONS["compare"],
    log:
        **paths.logs("variants/{variant}"),
    shell:
        "daf --log-json {log.json} leaderboard --evals {input} --out {output.table} --csv {output.csv} --confidence {params.confidence}"
        " --reps {params.reps} --seed {params.seed} > {log.text} 2>&1"

# Learning curves: every periodic checkpoint of every training run, evaluated on the policy's
# missions (the evaluation's episode seeds), one CPU job per run; then per-policy tables and a
# summary over runs (mean and IQM with CIs; ALL on normalised scores when configured).
rule curve:
    input:
        model=paths.MODEL,
        missions=lambda w: mission_files(*[MISSIONS[m] for m in STUDY.policy_missions(w.policy)]),
    output:
        paths.CURVE_RUN,
    params:
        missions=lambda w: " ".join(f"--mission {shlex.quote(MISSIONS[m])}" for m in STUDY.policy_missions(w.policy)),
        mission_sha=lambda w: [MISSION_SHA[m] for m in STUDY.policy_missions(w.policy)],  # rerun trigger
        episodes=lambda w: STUDY.curves.episodes,
        seed=STUDY.evaluation.seed,
        num_envs=STUDY.evaluation.num_envs,
        version=RULE_VERSIONS["curves"],
    log:
        **paths.logs("curves/{policy}/seed{seed}"),
    benchmark:
        paths.benchmark("curves/{policy}/seed{seed}")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    shell:
        "daf --log-json {log.json} curves --run-dir $(dirname {input.model})"
        " {params.missions} --episodes {params.episodes} --seed {params.seed} --num-envs {params.num_envs}"
        " --policy {wildcards.policy} --run {wildcards.seed} --out {output} --no-progress > {log.text} 2>&1"


rule curves_summary:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        runs=[paths.CURVE_RUN.format(policy=p, seed=s) for p in CURVE_POLICIES for s in STUDY.policy_runs(p)],
        references=curve_reference_tables(),
    output:
        tables=[paths.CURVE_POLICY.format(policy=p) for p in CURVE_POLICIES],
        summary=paths.CURVES_SUMMARY,
        final=paths.FINAL_VS_BEST,
    params:
        normalize=compare_normalize_flag(),
        confidence=STUDY.compare.confidence,
        reps=STUDY.compare.bootstrap_reps,
        seed=STUDY.evaluation.seed,
        version=RULE_VERSIONS["curves"],
        out=lambda w, output: paths.parent(output.summary),
    log:
        **paths.logs("curves_summary"),
    shell:
        "daf --log-json {log.json} curves-aggregate --curves {input.runs} --references {input.references:q}"
        " {params.normalize} --confidence {params.confidence} --reps {params.reps} --seed {params.seed}"
        " --out {params.out} > {log.text} 2>&1"

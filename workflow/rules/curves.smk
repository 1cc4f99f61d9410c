# Learning curves: every periodic checkpoint of every training run, evaluated on the policy's
# missions (the evaluation's episode seeds), one CPU job per run; then per-policy tables and a
# summary over runs (mean and IQM with CIs; ALL on normalised scores when configured).
rule curve:
    input:
        model="results/checkpoints/{policy}/seed{seed}/model.pt",
        missions=lambda w: mission_files(*[MISSIONS[m] for m in STUDY.policy_missions(w.policy)]),
    output:
        "results/curves/{policy}/seed{seed}.parquet",
    params:
        missions=lambda w: " ".join(f"--mission {shlex.quote(MISSIONS[m])}" for m in STUDY.policy_missions(w.policy)),
        mission_sha=lambda w: [MISSION_SHA[m] for m in STUDY.policy_missions(w.policy)],  # rerun trigger
        episodes=lambda w: STUDY.curves.episodes,
        seed=STUDY.evaluation.seed,
        num_envs=STUDY.evaluation.num_envs,
        version=RULE_VERSIONS["curves"],
    log:
        text="results/logs/curves/{policy}/seed{seed}.log",
        json="results/logs/curves/{policy}/seed{seed}.jsonl",
    benchmark:
        "results/benchmarks/curves/{policy}/seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    shell:
        "daf --log-json {log.json} curves --run-dir results/checkpoints/{wildcards.policy}/seed{wildcards.seed}"
        " {params.missions} --episodes {params.episodes} --seed {params.seed} --num-envs {params.num_envs}"
        " --policy {wildcards.policy} --run {wildcards.seed} --out {output} --no-progress > {log.text} 2>&1"


rule curves_summary:
    input:
        runs=[f"results/curves/{p}/seed{s}.parquet" for p in CURVE_POLICIES for s in STUDY.policy_runs(p)],
        references=curve_reference_tables(),
    output:
        tables=[f"results/curves/{p}.parquet" for p in CURVE_POLICIES],
        summary="results/curves/summary.parquet",
        final="results/curves/final_vs_best.parquet",
    params:
        normalize=compare_normalize_flag(),
        confidence=STUDY.compare.confidence,
        reps=STUDY.compare.bootstrap_reps,
        seed=STUDY.evaluation.seed,
        version=RULE_VERSIONS["curves"],
    log:
        text="results/logs/curves_summary.log",
        json="results/logs/curves_summary.jsonl",
    shell:
        "daf --log-json {log.json} curves-aggregate --curves {input.runs} --references {input.references:q}"
        " {params.normalize} --confidence {params.confidence} --reps {params.reps} --seed {params.seed}"
        " --out results/curves > {log.text} 2>&1"

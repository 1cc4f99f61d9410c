# Comparison of every policy: leaderboard with CIs (per mission and ALL), pairwise tests with
# corrected p-values and effect sizes, probability of improvement, performance profiles.
rule compare:
    input:
        eval_tables(),
    output:
        leaderboard="results/comparison/leaderboard.parquet",
        pairwise="results/comparison/pairwise.parquet",
        profiles="results/comparison/profiles.parquet",
        json="results/comparison/comparison.json",
        csv=report("results/comparison/leaderboard.csv", caption="../report/comparison.rst", category="Comparison"),
    params:
        settings=STUDY.compare.model_dump(mode="json"),  # only this section: a title edit reruns nothing here
        seed=STUDY.evaluation.seed,
        normalize=compare_normalize_flag(),
        trained=",".join(p for p in POLICIES if p in TRAINED or (STUDY.policies[p].spec or "").startswith("sweep:")),
        version=RULE_VERSIONS["compare"],
    log:
        text="results/logs/compare.log",
        json="results/logs/compare.jsonl",
    benchmark:
        "results/benchmarks/compare.tsv"
    shell:
        "daf --log-json {log.json} compare --evals {input} --out results/comparison --confidence {params.settings[confidence]}"
        " --reps {params.settings[bootstrap_reps]} --interval {params.settings[interval]}"
        " --alpha {params.settings[alpha]} --correction {params.settings[correction]} --seed {params.seed}"
        " {params.normalize} --trained '{params.trained}' > {log.text} 2>&1"

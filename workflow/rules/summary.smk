# The per-study summary table: policy x mission mean, bootstrap CI, success rate.
rule summarize:
    input:
        eval_tables(),
    output:
        table="results/summary/leaderboard.parquet",
        csv="results/summary/leaderboard.csv",
    params:
        confidence=STUDY.report.confidence,
        reps=STUDY.report.bootstrap_reps,
        seed=STUDY.evaluation.seed,
    log:
        "results/logs/summarize.log",
    benchmark:
        "results/benchmarks/summarize.tsv"
    shell:
        "daf summarize --evals {input} --out {output.table} --csv {output.csv}"
        " --confidence {params.confidence} --reps {params.reps} --seed {params.seed} > {log} 2>&1"

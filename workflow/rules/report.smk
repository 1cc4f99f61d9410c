# The self-contained HTML report. `snakemake -c2 report` rebuilds it from existing results.
rule report:
    input:
        config=STUDY_FILE,
        comparison=rules.compare.output.leaderboard,
        pairwise=rules.compare.output.pairwise,
        profiles=rules.compare.output.profiles,
        analysis=rules.analysis_summary.output.summary,
        difficulty=rules.analysis_summary.output.difficulty,
        vor=vor_outputs(),
        train_logs=[log for p in TRAINED for log in train_outputs(p)],
        replays=[f"results/replays/{p}/{m}.gif" for p in POLICIES for m in STUDY.policy_missions(p)]
        if STUDY.report.replays
        else [],
        evals=eval_tables(),
        sweeps=sweep_best_inputs(),
        variants=[f"results/variants/{v}.parquet" for v in VARIANTS],
        curves=rules.curves_summary.output if CURVE_POLICIES else [],
        plan=[rules.plan.output.json] if STUDY.plan else [],
    output:
        html=report("results/report/index.html", caption="../report/index.rst", category="Report"),
    params:
        benchmarks="results/benchmarks",
        optional=report_flags,
        version=RULE_VERSIONS["report"],
    log:
        text="results/logs/report.log",
        json="results/logs/report.jsonl",
    benchmark:
        "results/benchmarks/report.tsv"
    shell:
        "daf --log-json {log.json} report --config {input.config} --comparison results/comparison --analysis results/analysis"
        " --evals {input.evals} {params.optional} --benchmarks {params.benchmarks} --logs results/logs --out {output.html} > {log.text} 2>&1"

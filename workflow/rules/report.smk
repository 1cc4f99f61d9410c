# The self-contained HTML report. `snakemake -c2 report` rebuilds it from existing results.
rule report:
    input:
        config=STUDY_FILE,
        comparison=rules.compare.output.leaderboard,
        pairwise=rules.compare.output.pairwise,
        profiles=rules.compare.output.profiles,
        vor=vor_outputs(),
        evals=eval_tables(),
    output:
        html=report("results/report/index.html", caption="../report/index.rst", category="Report"),
    params:
        benchmarks="results/benchmarks",
        vor=lambda w, input: f"--vor {' '.join(input.vor)}" if input.vor else "",
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    shell:
        "daf report --config {input.config} --comparison results/comparison --evals {input.evals} {params.vor}"
        " --benchmarks {params.benchmarks} --out {output.html} > {log} 2>&1"

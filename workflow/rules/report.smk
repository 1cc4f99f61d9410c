# The self-contained HTML report. `snakemake -c2 report` rebuilds it from existing results.
rule report:
    input:
        config=STUDY_FILE,
        summary=rules.summarize.output.table,
        evals=eval_tables(),
    output:
        html=report("results/report/index.html", caption="../report/index.rst", category="Report"),
    params:
        benchmarks="results/benchmarks",
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    shell:
        "daf report --config {input.config} --summary {input.summary} --evals {input.evals}"
        " --benchmarks {params.benchmarks} --out {output.html} > {log} 2>&1"

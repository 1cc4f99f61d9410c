# Mission analysis (each episode's outcome: success or a failure mode), then success rates,
# failure-mode fractions and mission difficulty; and the replays' GIFs for the report.
rule analyze:
    input:
        evals="results/evals/{policy}/{mission}.parquet",
    output:
        "results/analysis/{policy}/{mission}.parquet",
    params:
        mission=lambda w: MISSIONS[w.mission],
        version=RULE_VERSIONS["analysis"],
    log:
        "results/logs/analyze/{policy}/{mission}.log",
    benchmark:
        "results/benchmarks/analyze/{policy}/{mission}.tsv"
    shell:
        "daf analyze --evals {input.evals} --mission {params.mission:q} --out {output} > {log} 2>&1"


rule analysis_summary:
    input:
        [f"results/analysis/{p}/{m}.parquet" for p in POLICIES for m in STUDY.policy_missions(p)],
    output:
        summary="results/analysis/summary.parquet",
        difficulty="results/analysis/difficulty.parquet",
        csv=report("results/analysis/summary.csv", caption="../report/analysis.rst", category="Mission analysis"),
    params:
        confidence=STUDY.compare.confidence,
        version=RULE_VERSIONS["analysis"],
    log:
        "results/logs/analysis_summary.log",
    benchmark:
        "results/benchmarks/analysis_summary.tsv"
    shell:
        "daf analysis-summary --analyses {input} --out results/analysis --confidence {params.confidence} > {log} 2>&1"


rule render:
    input:
        "results/replays/{policy}/{mission}/episode_0000.npz",
    output:
        report(
            "results/replays/{policy}/{mission}.gif",
            caption="../report/replay.rst",
            category="Replays",
            subcategory="{policy}",
            labels={"policy": "{policy}", "mission": "{mission}"},
        ),
    params:
        version=RULE_VERSIONS["render"],
    log:
        "results/logs/render/{policy}/{mission}.log",
    shell:
        "daf render {input} --out {output} --every 2 --max-frames 100 --cell 8 > {log} 2>&1"

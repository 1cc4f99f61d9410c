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
        text="results/logs/analyze/{policy}/{mission}.log",
        json="results/logs/analyze/{policy}/{mission}.jsonl",
    benchmark:
        "results/benchmarks/analyze/{policy}/{mission}.tsv"
    shell:
        "daf --log-json {log.json} analyze --evals {input.evals} --mission {params.mission:q} --out {output} > {log.text} 2>&1"


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
        text="results/logs/analysis_summary.log",
        json="results/logs/analysis_summary.jsonl",
    benchmark:
        "results/benchmarks/analysis_summary.tsv"
    shell:
        "daf --log-json {log.json} analysis-aggregate --analyses {input} --out results/analysis --confidence {params.confidence} > {log.text} 2>&1"


rule render:
    input:
        lambda w: f"results/replays/{w.policy}/{w.mission}/run{STUDY.policy_runs(w.policy)[0]}/episode_0000.npz",  # the first run
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
        text="results/logs/render/{policy}/{mission}.log",
        json="results/logs/render/{policy}/{mission}.jsonl",
    shell:
        "daf --log-json {log.json} render {input} --out {output} --every 2 --max-frames 100 --cell 8 > {log.text} 2>&1"

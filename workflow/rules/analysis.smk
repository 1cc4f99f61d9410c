# Mission analysis: each episode's outcome (success or a failure mode) comes with the merged
# evaluation table (rule `evaluate`); here success rates, failure-mode fractions and mission
# difficulty; and the replays' GIFs for the report.
rule analysis_summary:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        [paths.ANALYSIS.format(policy=p, mission=m) for p in POLICIES for m in STUDY.policy_missions(p)],
    output:
        summary=paths.ANALYSIS_SUMMARY,
        difficulty=paths.DIFFICULTY,
        csv=report(paths.ANALYSIS_SUMMARY_CSV, caption="../report/analysis.rst", category="Mission analysis"),
    params:
        confidence=STUDY.compare.confidence,
        version=RULE_VERSIONS["analysis"],
        out=lambda w, output: paths.parent(output.summary),
    log:
        **paths.logs("analysis_summary"),
    benchmark:
        paths.benchmark("analysis_summary")
    shell:
        "daf --log-json {log.json} analysis-aggregate --analyses {input} --out {params.out} --confidence {params.confidence} > {log.text} 2>&1"


rule render:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        lambda w: paths.REPLAY.format(policy=w.policy, mission=w.mission, run=STUDY.policy_runs(w.policy)[0]),  # the first run
    output:
        report(
            paths.REPLAY_GIF,
            caption="../report/replay.rst",
            category="Replays",
            subcategory="{policy}",
            labels={"policy": "{policy}", "mission": "{mission}"},
        ),
    params:
        version=RULE_VERSIONS["render"],
    log:
        **paths.logs("render/{policy}/{mission}"),
    shell:
        "daf --log-json {log.json} render {input} --out {output} --every 2 --max-frames 100 --cell 8 > {log.text} 2>&1"

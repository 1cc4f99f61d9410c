# The self-contained HTML report. `snakemake -c2 report` rebuilds it from existing results.
# Inputs are paths (daf/paths.py), not `rules.X.output`: Snakemake checks every input of a rule
# with rule references against them, which is quadratic in a large study's evaluation tables.
rule report:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        config=STUDY_FILE,
        comparison=paths.LEADERBOARD,
        pairwise=paths.PAIRWISE,
        profiles=paths.PROFILES,
        analysis=paths.ANALYSIS_SUMMARY,
        difficulty=paths.DIFFICULTY,
        vor=vor_outputs(),
        train_logs=[log for p in TRAINED for log in train_outputs(p)],
        replays=[paths.REPLAY_GIF.format(policy=p, mission=m) for p in POLICIES for m in STUDY.policy_missions(p)]
        if STUDY.report.replays
        else [],
        evals=eval_tables(),
        sweeps=sweep_best_inputs(),
        variants=[paths.VARIANT.format(variant=v) for v in VARIANTS],
        curves=curve_summary_tables(),
        plan=[paths.PLAN] if STUDY.plan else [],
        crossplay=[paths.CROSSPLAY.format(mission=m) for m in CROSSPLAY_MISSIONS],
        crossplay_gaps=[paths.CROSSPLAY_GAPS.format(mission=m) for m in CROSSPLAY_MISSIONS],
        nash=PLAN.population_outputs()["nash"],
        alpharank=PLAN.population_outputs()["alpharank"],
    output:
        html=report(paths.REPORT, caption="../report/index.rst", category="Report"),
    params:
        benchmarks=paths.BENCHMARKS_DIR,
        logs=paths.LOGS_DIR,
        comparison=lambda w, input: paths.parent(input.comparison),
        analysis=lambda w, input: paths.parent(input.analysis),
        optional=report_flags,
        version=RULE_VERSIONS["report"],
    log:
        **paths.logs("report"),
    benchmark:
        paths.benchmark("report")
    shell:
        "daf --log-json {log.json} report --config {input.config} --comparison {params.comparison} --analysis {params.analysis}"
        " --evals {input.evals} {params.optional} --benchmarks {params.benchmarks} --logs {params.logs} --out {output.html} > {log.text} 2>&1"

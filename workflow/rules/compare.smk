# Comparison of every policy: leaderboard with CIs (per mission and ALL), pairwise tests with
# corrected p-values and effect sizes, probability of improvement, performance profiles.
rule compare:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        eval_tables(),
    output:
        leaderboard=paths.LEADERBOARD,
        pairwise=paths.PAIRWISE,
        profiles=paths.PROFILES,
        json=paths.COMPARISON_JSON,
        csv=report(paths.LEADERBOARD_CSV, caption="../report/comparison.rst", category="Comparison"),
    params:
        settings=STUDY.compare.model_dump(mode="json"),  # only this section: a title edit reruns nothing here
        seed=STUDY.evaluation.seed,
        normalize=compare_normalize_flag(),
        trained=",".join(p for p in POLICIES if p in TRAINED or (STUDY.policies[p].spec or "").startswith("sweep:")),
        version=RULE_VERSIONS["compare"],
        out=lambda w, output: paths.parent(output.leaderboard),  # compare writes its files there
    log:
        **paths.logs("compare"),
    benchmark:
        paths.benchmark("compare")
    shell:
        "daf --log-json {log.json} compare --evals {input} --out {params.out} --confidence {params.settings[confidence]}"
        " --reps {params.settings[bootstrap_reps]} --interval {params.settings[interval]}"
        " --alpha {params.settings[alpha]} --correction {params.settings[correction]} --seed {params.seed}"
        " {params.normalize} --trained '{params.trained}' > {log.text} 2>&1"

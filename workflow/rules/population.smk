# Population rankings: Nash averaging of the policies x missions scores (`nash`) and α-Rank of each
# cross-play mission's policy x policy game (`alpharank`), with bootstrap CIs over training runs
# and episodes. Both read tables other rules made; cheap, local.
rule nash:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        lambda w: PLAN.nash_tables(),
    output:
        paths.NASH,
    params:
        flags=lambda w: PLAN.nash_flags(),
        confidence=STUDY.compare.confidence,
        reps=STUDY.population.bootstrap_reps if STUDY.population else 0,
        seed=STUDY.evaluation.seed,
        version=RULE_VERSIONS["population"],
    log:
        **paths.logs("population/nash"),
    benchmark:
        paths.benchmark("population/nash")
    shell:
        "daf --log-json {log.json} nash --evals {input} {params.flags} --confidence {params.confidence}"
        " --reps {params.reps} --seed {params.seed} --out {output} > {log.text} 2>&1"


rule alpharank:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        evals=lambda w: [paths.EVAL.format(policy=p, mission=w.mission) for p in crossplay_players(w.mission)],
        cells=lambda w: crossplay_cells(w.mission),
    output:
        paths.ALPHARANK,
    params:
        policies=lambda w: ",".join(STUDY.crossplay.policies),
        splits=lambda w: ",".join(map(str, STUDY.crossplay.splits)),
        episodes=lambda w: STUDY.crossplay_episodes(),
        unplayable=crossplay_unplayable_flags,
        flags=lambda w: PLAN.alpharank_flags(),
        confidence=STUDY.compare.confidence,
        reps=STUDY.population.bootstrap_reps if STUDY.population else 0,
        seed=STUDY.evaluation.seed,
        version=RULE_VERSIONS["population"],
    log:
        **paths.logs("population/alpharank/{mission}"),
    benchmark:
        paths.benchmark("population/alpharank/{mission}")
    shell:
        "daf --log-json {log.json} alpharank --mission {wildcards.mission} --policies {params.policies}"
        " --splits {params.splits} --episodes {params.episodes} --evals {input.evals} --cells {input.cells}"
        " {params.unplayable} {params.flags} --confidence {params.confidence} --reps {params.reps}"
        " --seed {params.seed} --out {output} > {log.text} 2>&1"

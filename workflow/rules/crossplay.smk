# Cross-play: each ordered pair (A, B) of `crossplay.policies` x split x mission plays the
# study's episodes 0..N-1 with A on k agents and B on the rest, one job per pairing of A's
# run with B's run (i-th with i-th, cycling the shorter list). The diagonal (A, A) is A's
# ordinary evaluation: the same episodes, so no job. `crossplay` tabulates a mission with
# CIs and the gaps.
rule crossplay_cell:
    input:
        crossplay_cell_inputs,
    output:
        table=paths.CROSSPLAY_CELL,
        provenance=paths.CROSSPLAY_CELL_SIDECAR,
    params:
        spec=lambda w: STUDY.policy_spec(w.policy, int(w.run)),
        partner_spec=lambda w: STUDY.policy_spec(w.partner, int(w.partner_run)),
        mission=lambda w: MISSIONS[w.mission],
        mission_sha=lambda w: MISSION_SHA[w.mission],  # rerun trigger
        weights_sha=lambda w: weights_sha(w.policy, w.partner),
        episodes=lambda w: STUDY.crossplay_episodes(),
        seed=STUDY.evaluation.seed,
        num_envs=STUDY.evaluation.num_envs,
        version=RULE_VERSIONS["crossplay"],
    log:
        **paths.logs("crossplay/{mission}/{policy}/{partner}/k{k}/run{run}-{partner_run}"),
    benchmark:
        paths.benchmark("crossplay/{mission}/{policy}/{partner}/k{k}/run{run}-{partner_run}")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "daf --log-json {log.json} evaluate --policy {params.spec:q} --label {wildcards.policy}"
        " --replacement {params.partner_spec:q} --replacement-labels {wildcards.partner} --candidate-agents {wildcards.k}"
        " --mission {params.mission:q} --episodes {params.episodes} --seed {params.seed} --run {wildcards.run}"
        " --num-envs {params.num_envs} --out {output.table} --no-progress > {log.text} 2>&1"


rule crossplay:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        evals=lambda w: [paths.EVAL.format(policy=p, mission=w.mission) for p in crossplay_players(w.mission)],
        cells=lambda w: crossplay_cells(w.mission),
    output:
        table=paths.CROSSPLAY,
        gaps=paths.CROSSPLAY_GAPS,
    params:
        policies=lambda w: ",".join(STUDY.crossplay.policies),
        splits=lambda w: ",".join(map(str, STUDY.crossplay.splits)),
        episodes=lambda w: STUDY.crossplay_episodes(),
        unplayable=crossplay_unplayable_flags,
        confidence=STUDY.compare.confidence,
        reps=STUDY.compare.bootstrap_reps,
        seed=STUDY.evaluation.seed,
        version=RULE_VERSIONS["crossplay"],
    log:
        **paths.logs("crossplay/{mission}"),
    benchmark:
        paths.benchmark("crossplay/{mission}")
    shell:
        "daf --log-json {log.json} crossplay --mission {wildcards.mission} --policies {params.policies}"
        " --splits {params.splits} --episodes {params.episodes} --evals {input.evals} --cells {input.cells}"
        " {params.unplayable} --confidence {params.confidence} --reps {params.reps} --seed {params.seed}"
        " --out {output.table} --gaps {output.gaps} > {log.text} 2>&1"

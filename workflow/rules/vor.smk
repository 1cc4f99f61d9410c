# Value over replacement: scenario k = 1..N per candidate x training run x mission (the
# candidate's run on k agents, the replacement on the rest), the k = 0 scenario shared by every
# candidate and run, then `daf vor` (over every run: a two-level interval).
rule vor_scenario:
    input:
        # the run's own checkpoint (a trained candidate's comes from its `train` job), the pool's weights
        lambda w: PLAN.run_inputs(w.candidate, w.mission, int(w.run)) + evaluate_files(*VOR.replacement, mission=w.mission),
    output:
        table=paths.VOR_SCENARIO,
        provenance=paths.VOR_SCENARIO_SIDECAR,
    params:
        spec=lambda w: STUDY.policy_spec(w.candidate, int(w.run)),
        replacement=replacement_flags,
        mission=lambda w: MISSIONS[w.mission],
        mission_sha=lambda w: MISSION_SHA[w.mission],  # rerun trigger
        episodes=lambda w: VOR.episodes,
        seed=STUDY.evaluation.seed,
        num_envs=STUDY.evaluation.num_envs,
        version=RULE_VERSIONS["vor"],
        weights_sha=lambda w: weights_sha(w.candidate, *VOR.replacement),
    log:
        **paths.logs("vor/{candidate}/{mission}/run{run}/k{k}"),
    benchmark:
        paths.benchmark("vor/{candidate}/{mission}/run{run}/k{k}")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "daf --log-json {log.json} evaluate --policy {params.spec:q} --label {wildcards.candidate} {params.replacement}"
        " --candidate-agents {wildcards.k} --run {wildcards.run} --mission {params.mission:q} --episodes {params.episodes}"
        " --seed {params.seed} --num-envs {params.num_envs} --out {output.table} --no-progress > {log.text} 2>&1"


rule vor_replacement:
    input:
        lambda w: evaluate_files(*VOR.replacement, mission=w.mission),
    output:
        table=paths.VOR_REPLACEMENT,
        provenance=paths.VOR_REPLACEMENT_SIDECAR,
    params:
        first=lambda w: VOR.replacement[0],
        spec=lambda w: STUDY.policy_spec(VOR.replacement[0]),
        replacement=replacement_flags,
        mission=lambda w: MISSIONS[w.mission],
        mission_sha=lambda w: MISSION_SHA[w.mission],
        episodes=lambda w: VOR.episodes,
        seed=STUDY.evaluation.seed,
        num_envs=STUDY.evaluation.num_envs,
        version=RULE_VERSIONS["vor"],
        weights_sha=lambda w: weights_sha(*VOR.replacement),
    log:
        **paths.logs("vor/replacement/{mission}"),
    benchmark:
        paths.benchmark("vor/replacement/{mission}")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "daf --log-json {log.json} evaluate --policy {params.spec:q} --label {params.first} {params.replacement} --candidate-agents 0"
        " --mission {params.mission:q} --episodes {params.episodes} --seed {params.seed}"
        " --num-envs {params.num_envs} --out {output.table} --no-progress > {log.text} 2>&1"


rule vor:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        scenarios=vor_scenario_tables,
    output:
        paths.VOR,
    params:
        confidence=STUDY.compare.confidence,
        reps=STUDY.compare.bootstrap_reps,
        seed=STUDY.evaluation.seed,
        version=RULE_VERSIONS["vor"],
    log:
        **paths.logs("vor/{candidate}"),
    benchmark:
        paths.benchmark("vor/{candidate}")
    shell:
        "daf --log-json {log.json} vor --scenarios {input.scenarios} --candidate {wildcards.candidate} --out {output}"
        " --confidence {params.confidence} --reps {params.reps} --seed {params.seed} > {log.text} 2>&1"

# One job per policy x mission: N seeded episodes -> per episode x agent parquet.
rule evaluate:
    input:
        evaluate_inputs,
    output:
        table="results/evals/{policy}/{mission}.parquet",
        provenance="results/evals/{policy}/{mission}.json",
        replay="results/replays/{policy}/{mission}/episode_0000.npz",  # episode 0, for the report
    params:
        spec=lambda w: STUDY.policy_spec(w.policy),
        mission=lambda w: MISSIONS[w.mission],
        mission_sha=lambda w: MISSION_SHA[w.mission],  # not used by the command: a rerun trigger
        weights_sha=lambda w: weights_sha(w.policy),  # so is the content of an external weights file
        episodes=STUDY.evaluation.episodes,
        seed=STUDY.evaluation.seed,
        num_envs=STUDY.evaluation.num_envs,
        version=RULE_VERSIONS["evaluate"],
    log:
        text="results/logs/evaluate/{policy}/{mission}.log",
        json="results/logs/evaluate/{policy}/{mission}.jsonl",
    benchmark:
        "results/benchmarks/evaluate/{policy}/{mission}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "daf --log-json {log.json} evaluate --policy {params.spec:q} --label {wildcards.policy} --mission {params.mission:q}"
        " --episodes {params.episodes} --seed {params.seed} --num-envs {params.num_envs}"
        " --out {output.table} --replays 1 --replay-dir results/replays/{wildcards.policy}/{wildcards.mission}"
        " --no-progress > {log.text} 2>&1"

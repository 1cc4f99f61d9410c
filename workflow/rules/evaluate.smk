# Evaluation: every run of a policy (a trained policy's training seeds; run 0 otherwise) plays
# the same seeded episodes, in chunks of `evaluation.chunk` episodes, one job per run x chunk.
# Episode k's seeds depend on k only, so raising `evaluation.episodes` plays only the new
# chunks. `evaluate` merges the chunks into one per episode x agent table per policy x mission
# (column `run`). Chunk 0 also records its episode 0 for the report's replay.
rule evaluate_chunk:
    input:
        evaluate_run_inputs,
    output:
        table="results/evals/{policy}/{mission}/run{run}/chunk{chunk}.parquet",
        provenance="results/evals/{policy}/{mission}/run{run}/chunk{chunk}.json",
    wildcard_constraints:
        chunk=r"[1-9]\d*",  # chunk 0 is `evaluate_first_chunk`
    params:
        **evaluate_chunk_params(replays=""),
    log:
        text="results/logs/evaluate/{policy}/{mission}/run{run}/chunk{chunk}.log",
        json="results/logs/evaluate/{policy}/{mission}/run{run}/chunk{chunk}.jsonl",
    benchmark:
        "results/benchmarks/evaluate/{policy}/{mission}/run{run}/chunk{chunk}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        EVALUATE_CHUNK_SHELL


use rule evaluate_chunk as evaluate_first_chunk with:
    output:
        table="results/evals/{policy}/{mission}/run{run}/chunk0.parquet",
        provenance="results/evals/{policy}/{mission}/run{run}/chunk0.json",
        replay="results/replays/{policy}/{mission}/run{run}/episode_0000.npz",  # for the report
    params:
        **evaluate_chunk_params(replays=lambda w: f"--replays 1 --replay-dir results/replays/{w.policy}/{w.mission}/run{w.run}"),
    log:
        text="results/logs/evaluate/{policy}/{mission}/run{run}/chunk0.log",
        json="results/logs/evaluate/{policy}/{mission}/run{run}/chunk0.jsonl",
    benchmark:
        "results/benchmarks/evaluate/{policy}/{mission}/run{run}/chunk0.tsv"


rule evaluate:
    input:
        chunks=evaluation_chunks,
    output:
        table="results/evals/{policy}/{mission}.parquet",
        provenance="results/evals/{policy}/{mission}.json",
    params:
        version=RULE_VERSIONS["evaluate"],
    log:
        text="results/logs/evaluate/{policy}/{mission}.log",
        json="results/logs/evaluate/{policy}/{mission}.jsonl",
    shell:
        "daf --log-json {log.json} merge-evals --chunks {input.chunks} --out {output.table} > {log.text} 2>&1"

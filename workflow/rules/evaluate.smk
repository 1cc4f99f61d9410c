# Evaluation: every run of a policy (a trained policy's training seeds; run 0 otherwise) plays
# the same seeded episodes, in chunks of `evaluation.chunk` episodes, one job per run x chunk.
# Episode k's seeds depend on k only, so raising `evaluation.episodes` plays only the new
# chunks. `evaluate` merges the chunks into one per episode x agent table per policy x mission
# (column `run`) and derives each episode's outcome for the mission analysis (it changes
# exactly when the table does: one job, not two). Chunk 0 also records its episode 0 for the
# report's replay.
rule evaluate_chunk:
    input:
        evaluate_run_inputs,
    output:
        table=paths.EVAL_CHUNK,
        provenance=paths.EVAL_CHUNK_SIDECAR,
    wildcard_constraints:
        chunk=r"[1-9]\d*",  # chunk 0 is `evaluate_first_chunk`
    params:
        **evaluate_chunk_params(replays=""),
    log:
        **paths.logs("evaluate/{policy}/{mission}/run{run}/chunk{chunk}"),
    benchmark:
        paths.benchmark("evaluate/{policy}/{mission}/run{run}/chunk{chunk}")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        EVALUATE_CHUNK_SHELL


use rule evaluate_chunk as evaluate_first_chunk with:
    output:
        table=paths.EVAL_CHUNK.replace("{chunk}", "0"),
        provenance=paths.EVAL_CHUNK_SIDECAR.replace("{chunk}", "0"),
        replay=paths.REPLAY,  # for the report
    params:
        **evaluate_chunk_params(replays=replay_flags),
    log:
        **paths.logs("evaluate/{policy}/{mission}/run{run}/chunk0"),
    benchmark:
        paths.benchmark("evaluate/{policy}/{mission}/run{run}/chunk0")


if PLAN.store is not None:
    # With an evaluation store (config `store.dir` or $DAF_STORE; docs/store.md), a chunk whose
    # table the store holds is a cheap local `reuse_*` job: the same `daf evaluate` command,
    # which copies the stored chunk instead of playing it. The DAG sees it for policies this
    # study does not train; `reusable_chunk` returns no input for the others, and the missing
    # input hands the chunk to `evaluate_chunk` (ruleorder), whose job copies it at run time
    # when the trained weights match a stored chunk's.
    ruleorder: reuse_first_chunk > evaluate_first_chunk
    ruleorder: reuse_chunk > evaluate_chunk

    use rule evaluate_chunk as reuse_chunk with:
        input:
            reusable_chunk_input,
        localrule: True
        resources:
            mem_mb=500,
            runtime=5,

    use rule evaluate_first_chunk as reuse_first_chunk with:
        input:
            reusable_chunk_input,
        localrule: True
        resources:
            mem_mb=500,
            runtime=5,


rule evaluate:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        chunks=evaluation_chunks,
    output:
        table=paths.EVAL,
        provenance=paths.EVAL_SIDECAR,
        outcomes=paths.ANALYSIS,
    params:
        mission=lambda w: MISSIONS[w.mission],
        version=RULE_VERSIONS["evaluate"],
        analysis_version=RULE_VERSIONS["analysis"],
    log:
        **paths.logs("evaluate/{policy}/{mission}"),
    shell:
        "daf --log-json {log.json} merge-evals --chunks {input.chunks} --out {output.table}"
        " --outcomes {output.outcomes} --mission {params.mission:q} > {log.text} 2>&1"

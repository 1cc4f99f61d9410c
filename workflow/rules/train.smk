# PPO training for every policy the config marks `train:`, one job per training seed (a run,
# the unit of replication). GPU-capable: the cluster profile places it on a GPU partition
# (resources: gpu=1); `--device auto` uses CUDA when present. Periodic checkpoints live in
# results/checkpoints/{policy}/seed{seed}/periodic/ (not declared outputs, so Snakemake keeps
# them when a job fails): rerunning a killed job resumes from them; `curves` evaluates them.
rule train:
    input:
        lambda w: mission_files(*train_settings(w.policy).mission_names()),
    output:
        model=paths.MODEL,
        sidecar=paths.MODEL_SIDECAR,
        log=paths.TRAIN_LOG,
    params:
        missions=lambda w: PLAN.train_mission_flags(w.policy),
        mission_sha=lambda w: [MISSION_SHA[mission_id(m)] for m in train_settings(w.policy).mission_names()],  # rerun trigger
        steps=lambda w: train_settings(w.policy).steps,
        seed=lambda w: checked_seed(w),
        arch=lambda w: train_settings(w.policy).arch,
        nproc=lambda w: train_settings(w.policy).nproc_per_node,
        nnodes=lambda w: train_settings(w.policy).nnodes,
        hyperparameters=hyperparameter_flags,
        tracking=tracking_flags,
        out=lambda w: paths.CHECKPOINT_DIR.format(policy=w.policy, seed=w.seed),
        version=RULE_VERSIONS["train"],
    log:
        **paths.logs("train/{policy}/seed{seed}"),
    benchmark:
        paths.benchmark("train/{policy}/seed{seed}")
    # the ranks and their env workers; Snakemake scales this down to the cores it has, and
    # `daf train` starts one env worker per core beyond the first (speed only, same result)
    threads: lambda w: train_settings(w.policy).nproc_per_node * (1 + train_settings(w.policy).workers)
    resources:
        # one GPU per rank: N per node on M nodes (sbatch --gpus=N*M --nodes=M; on clusters that
        # do not spread them evenly add --set-resources "train:slurm_extra='--gpus-per-node=N'")
        gpu=lambda w: train_settings(w.policy).nproc_per_node * train_settings(w.policy).nnodes,
        nodes=lambda w: train_settings(w.policy).nnodes,
        mem_mb=4000,
        runtime=240,
    shell:
        "daf --log-json {log.json} train {params.missions} --steps {params.steps} --seed {params.seed} --arch {params.arch}"
        " {params.hyperparameters} {params.tracking} --out {params.out} --device auto --threads 1"
        " --workers $(( {threads} / {params.nproc} - 1 ))"
        " --nproc-per-node {params.nproc} --nnodes {params.nnodes} --no-progress > {log.text} 2>&1"

# Power analysis with the study's own evaluations as the pilot: how many training runs and
# episodes reach a CI half-width, and detect a difference between two policies with a power.
rule plan:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    input:
        eval_tables(),
    output:
        json=paths.PLAN,
        components=paths.PLAN_COMPONENTS,
        precision=paths.PLAN_PRECISION,
        power=paths.PLAN_POWER,
    params:
        settings=STUDY.plan.model_dump(mode="json") if STUDY.plan else {},
        flags=plan_flags(),
        alpha=STUDY.compare.alpha,
        normalize=compare_normalize_flag(),
        seed=STUDY.evaluation.seed,
        version=RULE_VERSIONS["plan"],
        out=lambda w, output: paths.parent(output.json),
    log:
        **paths.logs("plan"),
    shell:
        "daf --log-json {log.json} plan --evals {input} --out {params.out} {params.flags} --alpha {params.alpha}"
        " {params.normalize} --seed {params.seed} > {log.text} 2>&1"

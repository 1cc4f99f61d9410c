"""`daf missions`, `daf policies`, `daf validate-config`, `daf schema`, `daf profile install`: what there is."""

from __future__ import annotations

import json
import sys

from daf.cli.common import table


def cmd_missions(args) -> None:
    from daf.missions import MISSIONS, get_mission

    missions = [get_mission(m) for m in args.files] if args.files else list(MISSIONS.values())
    rows = [m.summary() for m in missions]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(table(rows, ["name", "num_agents", "width", "height", "max_steps", "map", "description"]))


def cmd_policies(args) -> None:
    from daf.policies import describe_shorthands

    rows = [{**r, "kind": "shorthand"} for r in describe_shorthands()]
    if args.config:
        from daf.config.load import load_study

        study = load_study(args.config)
        rows += [
            {"name": name, "class_path": study.policy_spec(name), "description": p.description, "kind": "config"}
            for name, p in study.policies.items()
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(table(rows, ["name", "kind", "description"]))
        print("\nAlso accepted: a class path (pkg.module.Class) or class=SHORTHAND_OR_PATH,data=PATH[,key=value].")


def cmd_validate_config(args) -> None:
    from daf.config.load import config_hash, load_study

    study = load_study(args.config)
    print(
        f"{args.config}: valid ({len(study.policies)} policies x {len(study.missions)} missions, "
        f"sha256 {config_hash(study)[:12]})"
    )


def cmd_schema(args) -> None:
    from daf.config.load import schema_text

    if args.reference:
        from daf.config.reference import update_reference

        changed = update_reference(args.reference)
        print(f"{args.reference}: config key reference {'rewritten' if changed else 'already up to date'}")
    if args.out:
        from daf.io import write_text

        write_text(args.out, schema_text())
    elif not args.reference:
        sys.stdout.write(schema_text())


def cmd_profile_install(args) -> None:
    from daf.ops.cluster import install_profile

    target = install_profile(args.name, args.dest, args.cpu_partition, args.gpu_partition, args.account, args.force)
    print(f"installed profile {target}; use it with: snakemake --profile {args.name}")


def add_parsers(sub, parser_class) -> None:
    p = sub.add_parser("missions", help="list missions")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("files", nargs="*", help="mission .py files to describe instead of the registry")
    p.set_defaults(func=cmd_missions)

    p = sub.add_parser("policies", help="list policy shorthands (and a config's policies)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--config", help="also list the policies named in this study config")
    p.set_defaults(func=cmd_policies)

    p = sub.add_parser("profile", help="manage Snakemake profiles")
    profile = p.add_subparsers(dest="profile_command", required=True, parser_class=parser_class)
    p = profile.add_parser("install", help="install profiles/NAME as ~/.config/snakemake/NAME")
    p.add_argument("name", nargs="?", default="slurm", help="profile under profiles/ (default slurm)")
    p.add_argument("--dest", help="profile directory (default: $XDG_CONFIG_HOME/snakemake or ~/.config/snakemake)")
    p.add_argument("--cpu-partition", help="write this CPU partition in (default: $DAF_SLURM_CPU_PARTITION or cpu)")
    p.add_argument("--gpu-partition", help="write this GPU partition in (default: $DAF_SLURM_GPU_PARTITION or gpu)")
    p.add_argument("--account", help="write this account in (default: $DAF_SLURM_ACCOUNT or none)")
    p.add_argument("--force", action="store_true", help="replace an existing profile")
    p.set_defaults(func=cmd_profile_install)

    p = sub.add_parser("validate-config", help="check a study config")
    p.add_argument("config")
    p.set_defaults(func=cmd_validate_config)

    p = sub.add_parser("schema", help="print (or write) the config JSON schema")
    p.add_argument("--out")
    p.add_argument(
        "--reference",
        metavar="FILE",
        help="rewrite the generated config key reference between the markers of FILE (config/README.md)",
    )
    p.set_defaults(func=cmd_schema)

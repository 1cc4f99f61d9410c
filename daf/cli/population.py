"""Population rankings: `daf nash` (Nash averaging of evaluation tables) and `daf alpharank`
(α-Rank of one mission's cross-play game)."""

from __future__ import annotations

import sys

from daf.cli.common import bootstrap_flags, policy_pair
from daf.cli.compare import crossplay_input_flags, crossplay_inputs
from daf.errors import UserError


def _names(text: str | None) -> list[str] | None:
    return [name.strip() for name in text.split(",") if name.strip()] if text else None


def cmd_nash(args) -> dict:
    from daf.io import ensure_writable, read_parquets, write_parquet
    from daf.stats.population_tables import nash_table

    ensure_writable(args.out)
    normalize = policy_pair(args.normalize) if args.normalize else None
    table = nash_table(read_parquets(args.evals), _names(args.policies), _names(args.missions), normalize,
                       args.confidence, args.reps, args.seed)  # fmt: skip
    write_parquet(args.out, table)
    policies = table[table["kind"] == "policy"].sort_values("rank_nash")
    print("Nash-averaged skill: " + ", ".join(f"{r.name} {r.nash:.3g}" for r in policies.itertuples()),
          file=sys.stderr)  # fmt: skip
    return {"policies": len(policies), "missions": int((table["kind"] == "mission").sum())}


def cmd_alpharank(args) -> dict:
    from daf.io import write_parquet
    from daf.stats.population_tables import alpharank_table, crossplay_blocks

    if args.alpha is not None and not args.alpha > 0:
        raise UserError(f"--alpha must be positive (got {args.alpha}); leave it out for the α sweep")
    if args.population_size < 2:
        raise UserError(f"--population-size must be at least 2 (got {args.population_size})")
    policies, splits, unplayable, self_play, cells = crossplay_inputs(args, [args.out])
    players = [p for p in policies if p not in unplayable]
    if len(players) < 2:
        raise UserError(f"α-Rank on mission '{args.mission}' needs two policies that play it; "
                        f"only {players or 'none'} of {', '.join(policies)} do")  # fmt: skip
    blocks = crossplay_blocks(args.mission, players, splits, self_play, cells, args.payoff, args.episodes)
    table = alpharank_table(args.mission, players, blocks, args.alpha, args.population_size, args.selection,
                            args.payoff, args.confidence, args.reps, args.seed)  # fmt: skip
    write_parquet(args.out, table)
    for split, part in table.groupby("split", sort=False):
        ranked = part.sort_values("rank")
        print(f"α-Rank on {args.mission} (split {split}, α = {part['alpha'].iloc[0]:.4g}): "
              + ", ".join(f"{r.policy} {r.mass:.3f}" for r in ranked.itertuples()), file=sys.stderr)  # fmt: skip
    return {"policies": len(players), "splits": len(splits)}


def add_parsers(sub, parser_class) -> None:
    p = sub.add_parser("nash", help="Nash averaging of a policies x missions score table (skills, mission weights)")
    p.add_argument("--evals", nargs="+", required=True, help="`daf evaluate` parquets")
    p.add_argument("--out", required=True, help="output .parquet: a row per policy (skill) and per mission (weight)")
    p.add_argument("--policies", help="comma-separated (default: every policy in --evals)")
    p.add_argument("--missions", help="comma-separated mission ids (default: those every policy played)")
    p.add_argument("--normalize", metavar="LOW,HIGH",
                   help="per mission, LOW's mean = 0 and HIGH's = 1 (default: min-max over the policies)")  # fmt: skip
    bootstrap_flags(p, reps=1000)
    p.set_defaults(func=cmd_nash)

    p = sub.add_parser("alpharank", help="α-Rank of one mission's cross-play game (stationary mass per policy)")
    crossplay_input_flags(p)
    p.add_argument("--alpha", type=float, help="selection intensity (default: OpenSpiel's sweep to a large α)")
    p.add_argument("--population-size", type=int, default=50, help="Moran population size m (default 50)")
    p.add_argument(
        "--selection",
        choices=["population", "local"],
        default="population",
        help="fitness against the whole population (self-play included) or the current opponent only",
    )
    p.add_argument("--payoff", choices=["team", "own"], default="team",
                   help="A's payoff with B: team (all agents' mean reward) or own (A's agents')")  # fmt: skip
    p.add_argument("--out", required=True, help="output .parquet: one row per split x policy")
    bootstrap_flags(p, reps=1000)
    p.set_defaults(func=cmd_alpharank)

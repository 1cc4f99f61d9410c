"""Operations commands: doctor, policy inspect, package / validate-bundle, login / auth, submit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from daf.errors import UserError


def cmd_doctor(args) -> dict:
    from daf.api import doctor
    from daf.ops.doctor import as_dicts

    result = doctor(args.results, args.constraints, args.auth_config, args.server)
    checks, failures = result.checks, result.problems
    if args.json:
        print(json.dumps({"ok": not failures, "checks": as_dicts(checks)}, indent=2))
    else:
        print(result.table())
    if failures:
        names = ", ".join(c.name for c in failures)
        print(f"daf doctor: {len(failures)} required check(s) failed: {names}", file=sys.stderr)
        raise SystemExit(1)
    return {"checks": len(checks), "warnings": sum(c.status == "warn" for c in checks)}


def cmd_policy_inspect(args) -> dict:
    from daf.ops.inspect import describe, inspect_policy

    info = inspect_policy(args.spec, args.mission)
    print(json.dumps(info, indent=2, default=str) if args.json else describe(info))
    return {"parameters": info["parameters"], "class": info["class"]}


def cmd_package(args) -> dict:
    from daf.ops.bundle import package

    out = Path(args.out)
    meta = package(args.spec, out, args.name or Path(args.spec.split("data=")[-1]).stem)
    files = ", ".join(f"{p} ({f['bytes']:,} B)" for p, f in meta["files"].items())
    print(f"wrote {out}: {files}", file=sys.stderr)
    return {"bundle": str(out), "files": len(meta["files"])}


def cmd_validate_bundle(args) -> dict:
    from daf.ops.bundle import validate

    result = validate(Path(args.bundle), args.missions, args.episodes)
    for mission, r in result["missions"].items():
        print(f"{mission}: {r['episodes']} episodes, mean reward per agent {r['mean_reward']:.3f}")
    print(f"bundle {args.bundle} is valid", file=sys.stderr)
    return {"missions": len(result["missions"])}


def _auth_path(args) -> Path:
    from daf.ops.auth import DEFAULT_CONFIG

    return Path(args.auth_config) if args.auth_config else DEFAULT_CONFIG


def cmd_login(args) -> dict:
    from daf.ops.auth import browser_login, normalize_server, save_token

    server = normalize_server(args.server)
    if args.token_stdin:
        token = sys.stdin.readline().strip()
        if not token:
            raise UserError("--token-stdin: no token on standard input")
    else:
        token = browser_login(server, open_browser=not args.no_browser, timeout=args.timeout,
                              announce=lambda text: print(text, file=sys.stderr, flush=True))  # fmt: skip
    path = _auth_path(args)
    save_token(path, server, token)
    print(f"logged in to {server}; token saved to {path} (mode 0600)", file=sys.stderr)
    return {"server": server}  # never the token


def cmd_auth_status(args) -> dict:
    import time

    from daf.ops.auth import token_expiry, tokens

    path = _auth_path(args)
    stored = tokens(path)
    if not stored:
        print(f"not logged in to any server ({path} has no login_tokens); run: daf login SERVER")
        raise SystemExit(1)
    for server, token in sorted(stored.items()):
        expiry = token_expiry(token)
        if expiry is None:
            state = "token present (expiry unknown)"
        elif expiry < time.time():
            state = "token EXPIRED; run: daf login " + server
        else:
            state = f"token valid for {(expiry - time.time()) / 3600:.1f} h"
        print(f"{server}: {state}")
    return {"servers": len(stored)}


def cmd_auth_logout(args) -> dict:
    from daf.ops.auth import remove_token

    removed = remove_token(_auth_path(args), args.server)
    print(f"{'removed the token for' if removed else 'no token stored for'} {args.server}", file=sys.stderr)
    return {"removed": removed}


def cmd_submit(args) -> dict:
    from daf.ops.auth import load_token, normalize_server
    from daf.ops.submit import KEY_PATTERN, KEY_RULE, Submitter, require_https

    server = normalize_server(args.server)
    require_https(server, "server")
    if args.idempotency_key is not None and not KEY_PATTERN.fullmatch(args.idempotency_key):
        raise UserError(f"--idempotency-key {args.idempotency_key!r} is not usable: use {KEY_RULE}, "
                        "or leave it out to use the key derived from the submission")  # fmt: skip
    token = load_token(_auth_path(args), server)
    if token is None:
        raise UserError(f"not logged in to {server}: run `daf login {server}` (or --token-stdin)")
    bundle = Path(args.bundle)
    submitter = Submitter(server, token, attempts=args.attempts, backoff=args.backoff, timeout=args.timeout,
                          idempotency_key=args.idempotency_key or "",  # "": derived, and printed
                          log=lambda text: print(text, file=sys.stderr, flush=True))  # fmt: skip
    result = submitter.submit(bundle, args.season, args.name or bundle.stem)
    print(json.dumps(result, indent=2))
    return {"policy_version_id": result["policy_version_id"], "season": args.season}


def add_parsers(sub, parser_class) -> None:
    p = sub.add_parser("doctor", help="check this machine: versions, engine, torch, disk, Snakemake/SLURM, login")
    p.add_argument("--json", action="store_true")
    p.add_argument("--results", default="results", help="where studies write (disk check)")
    p.add_argument("--constraints", help="pin file to compare against (default: the repository's constraints.txt)")
    p.add_argument("--server", help="also require a valid login token for this server")
    p.add_argument("--auth-config", help="token file (default ~/.metta/cogames.yaml or $DAF_AUTH_CONFIG)")
    p.set_defaults(func=cmd_doctor)

    policy = sub.add_parser("policy", help="policy tools").add_subparsers(dest="action", required=True,
                                                                          parser_class=parser_class)  # fmt: skip
    p = policy.add_parser("inspect", help="class, parameters, recurrence, spaces, checkpoint metadata")
    p.add_argument("spec", help="SPEC: shorthand, class path, class=...,data=..., or a checkpoint")
    p.add_argument("--mission", default="cogs.tiny", help="mission whose spaces to build it for (default cogs.tiny)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_policy_inspect)

    p = sub.add_parser("package", help="write a policy bundle zip (spec, weights, checksums, versions)")
    p.add_argument("spec", help="SPEC of the policy to package")
    p.add_argument("--out", required=True, help="bundle .zip")
    p.add_argument("--name", help="policy name in the bundle (default: the weights file's stem)")
    p.set_defaults(func=cmd_package)

    p = sub.add_parser(
        "validate-bundle",
        help="check a bundle and play smoke episodes in a fresh process (runs its policy code: trusted bundles only)",
        description="Check a policy bundle - its format (daf-bundle/1), that it holds exactly the files its "
        "daf_bundle.json lists, their sha256 checksums - then, in a fresh Python process, import and run the "
        "bundle's policy class to play smoke episodes. This imports and runs the bundle's policy class, i.e. "
        "executes the bundle's code: only validate bundles you trust.",
    )
    p.add_argument("bundle")
    p.add_argument("--missions", nargs="+", default=["cogs.tiny"])
    p.add_argument("--episodes", type=int, default=2)
    p.set_defaults(func=cmd_validate_bundle)

    def auth_config(p):
        p.add_argument("--auth-config", help="token file (default ~/.metta/cogames.yaml or $DAF_AUTH_CONFIG)")

    p = sub.add_parser("login", help="log in to a tournament server (browser callback, or --token-stdin)")
    p.add_argument("server", help="server URL, e.g. https://softmax.com/api")
    p.add_argument("--token-stdin", action="store_true", help="read the token from standard input (headless)")
    p.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the callback")
    auth_config(p)
    p.set_defaults(func=cmd_login)

    auth = sub.add_parser("auth", help="login tokens").add_subparsers(dest="action", required=True,
                                                                      parser_class=parser_class)  # fmt: skip
    p = auth.add_parser("status", help="servers with a stored token, and whether it is still valid")
    auth_config(p)
    p.set_defaults(func=cmd_auth_status)
    p = auth.add_parser("logout", help="forget a server's token")
    p.add_argument("server")
    auth_config(p)
    p.set_defaults(func=cmd_auth_logout)

    p = sub.add_parser("submit", help="upload a bundle and submit it to a season (presigned-URL flow)")
    p.add_argument("bundle")
    p.add_argument("--season", required=True)
    p.add_argument("--server", default="https://softmax.com/api")
    p.add_argument("--name", help="policy name (default: the bundle's file stem)")
    p.add_argument("--attempts", type=int, default=4, help="tries per request on 5xx / network errors")
    p.add_argument("--backoff", type=float, default=0.5, help="first retry delay in seconds (doubles)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument("--idempotency-key", help="use this key instead of the one derived from the bundle, name, "
                   "season and server (printed as 'idempotency key: ...'; rerunning the same command reuses it); "
                   "a new key submits the same bundle again")  # fmt: skip
    auth_config(p)
    p.set_defaults(func=cmd_submit)

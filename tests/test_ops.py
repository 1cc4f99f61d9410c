"""Operations: doctor, policy inspect, bundles, login and tokens, submission against a local
server with injected failures, structured logs."""

import base64
import hashlib
import json
import os
import queue
import re
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml
from tournament_server import TournamentServer

from daf import auth, bundle, doctor
from daf.errors import UserError
from daf.submit import Submitter, require_https, submission_key

REPO = Path(__file__).resolve().parents[1]
DAF = [sys.executable, "-m", "daf"]


def run(*args, stdin: str | None = None, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run([*DAF, *args], capture_output=True, text=True, input=stdin, timeout=600, cwd=cwd,
                          env={**os.environ, **(env or {})})  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "run"
    result = run("train", "--mission", "cogs.tiny", "--steps", "128", "--seed", "3", "--out", str(out),
                 "--set", "num_envs=2", "--set", "rollout_steps=16", "--device", "cpu", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out / "model.pt"


# --- doctor ---------------------------------------------------------------------------------


def test_doctor_passes_here_and_reports_json(tmp_path):
    result = run("doctor", "--json", "--results", str(tmp_path), "--auth-config", str(tmp_path / "none.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] and checks["mettagrid"]["status"] == "ok" and "0.26.21" in checks["mettagrid"]["detail"]
    assert checks["engine"]["status"] == "ok" and "smoke episode" in checks["engine"]["detail"]
    assert checks["python"]["status"] == "ok" and checks["disk"]["status"] == "ok"
    assert checks["auth token"]["status"] == "warn" and not checks["auth token"]["required"]
    assert "torch" in checks["torch device"]["detail"] and "CPU" in checks["torch device"]["detail"]


def test_doctor_fails_with_the_fix_when_a_pin_is_off(tmp_path):
    pins = tmp_path / "constraints.txt"
    pins.write_text("# a colleague's freeze\nmettagrid==0.26.99\nnumpy==1.0.0\n")
    result = run("doctor", "--constraints", str(pins), "--results", str(tmp_path),
                 "--auth-config", str(tmp_path / "none.yaml"))  # fmt: skip
    assert result.returncode == 1
    assert re.search(r"FAIL\s+mettagrid\s+0\.26\.21 installed, 0\.26\.99 pinned", result.stdout)
    assert re.search(r"WARN\s+numpy", result.stdout)  # not required: a warning
    assert "mettagrid: pip install -c constraints.txt 'mettagrid==0.26.99'" in result.stdout
    assert result.stderr.strip() == "daf doctor: 1 required check(s) failed: mettagrid"


def test_doctor_reads_token_expiry(tmp_path):
    config = tmp_path / "cogames.yaml"
    auth.save_token(config, "https://example.org/api", _jwt(time.time() - 60))
    check = doctor.check_auth(config, "https://example.org/api")
    assert check.status == "fail" and "EXPIRED" in check.detail and check.fix == "daf login https://example.org/api"
    auth.save_token(config, "https://example.org/api", _jwt(time.time() + 7200))
    assert doctor.check_auth(config, None).status == "ok"


# --- policy inspect ---------------------------------------------------------------------------


def test_policy_inspect_shorthands_and_checkpoints(checkpoint):
    random_info = json.loads(run("policy", "inspect", "random", "--json").stdout)
    assert random_info["parameters"] == 0 and random_info["action_space"]["n"] == 5
    assert random_info["observation_space"]["shape"] == [500, 3]  # tokens x (location, feature, value)
    lstm = json.loads(run("policy", "inspect", "lstm", "--json").stdout)
    assert lstm["parameters"] > 1000 and lstm["recurrent"] is True
    result = run("policy", "inspect", str(checkpoint), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    sidecar = json.loads(checkpoint.with_suffix(".json").read_text())
    assert info["class"] == "daf.policies.trained.TrainedPolicy" and info["recurrent"] is False
    assert info["checkpoint"]["sha256"] == sidecar["sha256"] and info["checkpoint"]["steps"] == 128
    assert info["checkpoint"]["hyperparameters"]["num_envs"] == 2 and info["checkpoint"]["seed"] == 3
    import torch

    weights = torch.load(checkpoint, weights_only=True)["model"]
    assert info["parameters"] == sum(t.numel() for t in weights.values() if t.dtype.is_floating_point)
    text = run("policy", "inspect", str(checkpoint)).stdout
    assert "trained     128 agent-steps on cogs.tiny, seed 3" in text
    bad = run("policy", "inspect", "nonsense")
    assert bad.returncode == 2 and bad.stderr.startswith("daf: error: unknown policy 'nonsense'")


# --- bundles ----------------------------------------------------------------------------------


def test_bundle_round_trip_is_deterministic_and_plays(checkpoint, tmp_path):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    assert run("package", str(checkpoint), "--out", str(first), "--name", "mine").returncode == 0
    assert run("package", str(checkpoint), "--out", str(second), "--name", "mine").returncode == 0
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert sorted(archive.namelist()) == ["daf_bundle.json", "policy_spec.json", "weights/model.pt"]
        spec = json.loads(archive.read("policy_spec.json"))
        meta = json.loads(archive.read("daf_bundle.json"))
    assert spec == {"class_path": "daf.policies.trained.TrainedPolicy", "data_path": "weights/model.pt",
                    "init_kwargs": {}, "setup_script": None}  # fmt: skip
    assert (
        meta["files"]["weights/model.pt"]["sha256"] == json.loads(checkpoint.with_suffix(".json").read_text())["sha256"]
    )
    assert meta["versions"]["mettagrid"] == "0.26.21" and meta["checkpoint"]["steps"] == 128
    result = run("validate-bundle", str(first), "--missions", "cogs.tiny", "cogs.small", "--episodes", "2")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^cogs\.tiny: 2 episodes, mean reward per agent \d", result.stdout, re.M)
    assert run("package", "baseline", "--out", str(tmp_path / "scripted.zip")).returncode == 0
    assert run("validate-bundle", str(tmp_path / "scripted.zip"), "--missions", "forage.open").returncode == 0


def _rewrite(source: Path, target: Path, change) -> None:
    with zipfile.ZipFile(source) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    change(entries)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def test_bad_bundles_fail_clearly(checkpoint, tmp_path):
    good = tmp_path / "good.zip"
    bundle.package(str(checkpoint), good, "mine")

    def tamper(entries):
        data = bytearray(entries["weights/model.pt"])
        data[len(data) // 2] ^= 0xFF  # one flipped byte
        entries["weights/model.pt"] = bytes(data)

    cases = {
        "tampered": (tamper, "checksum mismatch for weights/model.pt"),
        "missing": (lambda e: e.pop("weights/model.pt"), "weights/model.pt is listed in daf_bundle.json but missing"),
        "nospec": (lambda e: e.pop("policy_spec.json"), "lacks policy_spec.json"),
    }
    for name, (change, message) in cases.items():
        bad = tmp_path / f"{name}.zip"
        _rewrite(good, bad, change)
        result = run("validate-bundle", str(bad))
        assert result.returncode == 2 and message in result.stderr, (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    # a network trained on cogs.tiny cannot play forage: other observations
    result = run("validate-bundle", str(good), "--missions", "forage.open")
    assert result.returncode == 2 and "was trained for other observations/actions" in result.stderr
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    assert "is not a zip file" in run("validate-bundle", str(tmp_path / "junk.zip")).stderr


def _with_meta(**fields):
    def change(entries):
        meta = json.loads(entries["daf_bundle.json"])
        meta.update(fields)
        entries["daf_bundle.json"] = json.dumps(meta).encode()

    return change


def test_validate_bundle_refuses_unlisted_files_and_other_formats(bundle_zip, tmp_path):
    same = tmp_path / "same.zip"
    _rewrite(bundle_zip, same, lambda entries: None)  # rewritten, unchanged: still passes the checks
    assert bundle.read_checked(same, tmp_path / "same") == bundle.read_checked(bundle_zip, tmp_path / "orig")
    assert bundle.read_checked(same, tmp_path / "again")[1]["format"] == "daf-bundle/1"
    cases = {
        # a file outside the manifest could be imported from the extracted bundle unchecked
        "extra": (
            lambda e: e.update({"sitecustomize.py": b"print('surprise')"}),
            "contains sitecustomize.py, which daf_bundle.json does not list",
        ),
        "format": (
            _with_meta(format="daf-bundle/2"),
            "has format 'daf-bundle/2', expected 'daf-bundle/1' (repackage it with `daf package`)",
        ),
    }
    for name, (change, message) in cases.items():
        bad = tmp_path / f"{name}.zip"
        _rewrite(bundle_zip, bad, change)
        result = run("validate-bundle", str(bad))
        assert result.returncode == 2, (name, result.stderr)
        assert result.stderr == f"daf: error: bundle '{bad}' failed validation: bundle '{bad}' {message}\n", name
    # the same checks in-process, with the cases a hand-edited manifest can produce
    for name, change, message in [
        ("noformat", _with_meta(format=None), "has format None, expected 'daf-bundle/1'"),
        ("notjson", lambda e: e.update({"daf_bundle.json": b"{oops"}), "daf_bundle.json is not valid JSON"),
        ("listless", _with_meta(files=[]), "daf_bundle.json has no 'files' mapping"),
    ]:
        bad = tmp_path / f"{name}.zip"
        _rewrite(bundle_zip, bad, change)
        with pytest.raises(UserError) as caught:
            bundle.read_checked(bad, tmp_path / name)
        assert str(caught.value).startswith(f"bundle '{bad}'") and message in str(caught.value), name
        assert not (tmp_path / name).exists()  # refused before anything was extracted


def test_validate_bundle_help_says_it_runs_the_policy_code():
    result = run("validate-bundle", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "imports and runs the bundle's policy class" in text and "only validate bundles you trust" in text
    listing = " ".join(run("--help").stdout.split())
    assert "validate-bundle" in listing and "runs its policy code" in listing


# --- login and tokens ---------------------------------------------------------------------------


def _jwt(exp: float) -> str:
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': int(exp), 'sub': 'me'})}.sig"


def test_browser_login_stores_the_token_privately(tmp_path):
    config = tmp_path / "home" / ".metta" / "cogames.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(yaml.safe_dump({"other": {"kept": True}}))
    token = _jwt(time.time() + 3600)
    command = [*DAF, "login", "https://tournament.example/api", "--no-browser", "--timeout", "60"]
    command += ["--auth-config", str(config)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    url = re.search(r"(https://tournament\.example/api/tokens/cli\?callback=\S+)", line).group(1)
    callback = httpx.URL(url).params["callback"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback/[A-Za-z0-9_-]{43}", callback)
    assert httpx.get(callback).status_code == 400  # no token: refused, still waiting
    answer = httpx.get(callback, params={"token": token})
    assert answer.status_code == 200 and "logged in" in answer.text
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert token not in out + err + line
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    data = yaml.safe_load(config.read_text())
    assert data["login_tokens"] == {"https://tournament.example/api": token} and data["other"] == {"kept": True}
    status = run("auth", "status", "--auth-config", str(config))
    assert status.returncode == 0 and "https://tournament.example/api: token valid for" in status.stdout
    assert token not in status.stdout + status.stderr


def test_login_callback_ignores_forged_tokens():
    """The callback path carries a random segment: a page or process that only finds the port
    cannot plant a token; its requests are refused and the login keeps waiting for the real one."""
    announced: queue.Queue = queue.Queue()
    result = {}

    def login():
        result["token"] = auth.browser_login("https://t.example/api", open_browser=False, timeout=30,
                                             announce=announced.put)  # fmt: skip

    thread = threading.Thread(target=login, daemon=True)
    thread.start()
    url = re.search(r"(https://t\.example/api/tokens/cli\?callback=\S+)", announced.get(timeout=10)).group(1)
    callback = httpx.URL(url).params["callback"]
    match = re.fullmatch(r"(http://127\.0\.0\.1:\d+)/callback/([A-Za-z0-9_-]{43})", callback)
    assert match, callback
    base, secret = match.groups()
    other = "A" * 43 if secret != "A" * 43 else "B" * 43
    forged = [f"{base}/callback", f"{base}/callback/", f"{base}/callback/{other}", f"{base}/callback/{secret[:-1]}",
              f"{base}/callback/{secret}/x", f"{base}/", f"{base}/callback/{secret.upper()}x"]  # fmt: skip
    for address in forged:
        answer = httpx.get(address, params={"token": "evil"})
        assert answer.status_code == 404 and "evil" not in answer.text, address
    assert httpx.get(callback).status_code == 400  # the right path without a token: refused too
    assert thread.is_alive() and result == {}  # nothing stored, still waiting
    answer = httpx.get(callback, params={"token": "real-token"})
    assert answer.status_code == 200 and "logged in" in answer.text
    thread.join(10)
    assert result == {"token": "real-token"}


def test_token_stdin_and_logout(tmp_path):
    config = tmp_path / "cogames.yaml"
    result = run("login", "http://127.0.0.1:9/", "--token-stdin", "--auth-config", str(config), stdin="abc123\n")
    assert result.returncode == 0 and "abc123" not in result.stdout + result.stderr
    assert auth.load_token(config, "http://127.0.0.1:9") == "abc123"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert run("login", "ftp://x", "--token-stdin", "--auth-config", str(config), stdin="t\n").returncode == 2
    assert run("auth", "logout", "http://127.0.0.1:9", "--auth-config", str(config)).returncode == 0
    assert auth.load_token(config, "http://127.0.0.1:9") is None
    status = run("auth", "status", "--auth-config", str(config))
    assert status.returncode == 1 and "not logged in" in status.stdout


# --- submission -------------------------------------------------------------------------------


@pytest.fixture
def bundle_zip(tmp_path) -> Path:
    out = tmp_path / "scripted.zip"
    bundle.package("baseline", out, "scripted")
    return out


def test_submit_survives_injected_failures_without_duplicates(bundle_zip, tmp_path):
    config = tmp_path / "cogames.yaml"
    with TournamentServer(token="secret-token") as server:
        auth.save_token(config, server.url, "secret-token")
        state = server.state
        state.fail_next("presigned-url", "503")  # the server is busy once
        state.fail_next("put", "drop")  # the bytes arrive, the connection dies: the client must retry
        state.fail_next("complete", "500-after")  # applied, but the answer is lost
        state.fail_next("submissions", "drop")
        result = run("submit", str(bundle_zip), "--season", "alpha", "--server", server.url, "--backoff", "0.05",
                     "--auth-config", str(config))  # fmt: skip
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert len(state.versions) == 1 and answer["policy_version_id"] == state.versions[0]["id"]
        assert state.submissions == [("alpha", answer["policy_version_id"])]
        assert answer["pools"] == ["alpha-qualifiers"] and answer["name"] == "scripted"
        upload = state.versions[0]["upload_id"]
        assert list(state.uploads) == [upload] and state.uploads[upload] == bundle_zip.read_bytes()
        assert state.put_attempts[upload] == 2  # retried once, into the same object
        assert "secret-token" not in result.stdout + result.stderr
        assert "retrying" in result.stderr


def test_submit_errors_are_clear(bundle_zip, tmp_path):
    config = tmp_path / "cogames.yaml"
    with TournamentServer(token="secret-token") as server:
        missing = run("submit", str(bundle_zip), "--season", "alpha", "--server", server.url, "--auth-config",
                      str(config))  # fmt: skip
        assert (
            missing.returncode == 2 and f"not logged in to {server.url}: run `daf login {server.url}`" in missing.stderr
        )
        auth.save_token(config, server.url, "stale")
        rejected = run("submit", str(bundle_zip), "--season", "alpha", "--server", server.url, "--auth-config",
                       str(config))  # fmt: skip
        assert rejected.returncode == 2
        assert "rejected the login token (expired or revoked): invalid token; run: daf login" in rejected.stderr
        auth.save_token(config, server.url, "secret-token")
        nowhere = run("submit", str(bundle_zip), "--season", "omega", "--server", server.url, "--auth-config",
                      str(config))  # fmt: skip
        assert nowhere.returncode == 2 and "submitting to season 'omega': not found" in nowhere.stderr
        closed = run("submit", str(bundle_zip), "--season", "archived", "--server", server.url, "--auth-config",
                     str(config))  # fmt: skip
        assert closed.returncode == 2
        assert (
            "submitting to season 'archived': not allowed by" in closed.stderr
            and "season archived is closed" in closed.stderr
        )
        server.state.fail_next("presigned-url", "503", "503", "503")
        busy = run("submit", str(bundle_zip), "--season", "alpha", "--server", server.url, "--attempts", "3",
                   "--backoff", "0.01", "--auth-config", str(config))  # fmt: skip
        assert busy.returncode == 2 and "failed after 3 attempts (HTTP 503)" in busy.stderr
    insecure = run("submit", str(bundle_zip), "--season", "alpha", "--server", "http://tournament.example",
                   "--auth-config", str(config))  # fmt: skip
    assert insecure.returncode == 2 and "must use https" in insecure.stderr


def test_https_rule():
    require_https("https://softmax.com/api", "server")
    require_https("http://127.0.0.1:8000", "server")
    require_https("http://[::1]:8000", "server")
    require_https("http://localhost:8000", "server")
    for url in ("http://softmax.com/api", "http://10.0.0.1", "ftp://127.0.0.1"):
        with pytest.raises(UserError, match="must use https"):
            require_https(url, "server")


def test_submitter_never_sends_the_token_to_storage(bundle_zip):
    seen = {}
    with TournamentServer(token="tok") as server:
        original = server.httpd.RequestHandlerClass.do_PUT

        def spy(handler):
            seen["token"] = handler.headers.get("X-Auth-Token")
            return original(handler)

        server.httpd.RequestHandlerClass.do_PUT = spy
        Submitter(server.url, "tok", idempotency_key="k").submit(bundle_zip, "alpha", "n")
    assert seen == {"token": None}


def test_rerunning_a_failed_submit_resumes_it_without_duplicates(bundle_zip, tmp_path):
    """The season POST fails for the whole first process (after `complete` went through); the
    same command again sends the same derived Idempotency-Key, so the server hands back the
    first upload id and policy version instead of making new ones."""
    config = tmp_path / "cogames.yaml"
    with TournamentServer(token="secret-token") as server:
        auth.save_token(config, server.url, "secret-token")
        state = server.state
        state.fail_next("submissions", "503", "503")  # every attempt of the first run
        command = ("submit", str(bundle_zip), "--season", "alpha", "--server", server.url, "--attempts", "2",
                   "--backoff", "0.01", "--auth-config", str(config))  # fmt: skip
        first = run(*command)
        assert first.returncode == 2, first.stderr
        key = re.search(r"^idempotency key: ([0-9a-f]{32})$", first.stderr, re.M).group(1)
        error = first.stderr.strip().splitlines()[-1]
        assert error.startswith("daf: error: submitting to season 'alpha' failed after 2 attempts (HTTP 503)")
        assert error.endswith(f"rerun the same command to resume it (idempotency key {key})")
        assert len(state.versions) == 1 and state.submissions == []
        second = run(*command)
        assert second.returncode == 0, second.stderr
        assert re.search(r"^idempotency key: ([0-9a-f]{32})$", second.stderr, re.M).group(1) == key
        answer = json.loads(second.stdout)
        assert len(state.issued) == 1 and len(state.uploads) == 1 and len(state.versions) == 1
        assert answer["policy_version_id"] == state.versions[0]["id"] and answer["idempotency_key"] == key
        assert state.submissions == [("alpha", answer["policy_version_id"])]
        assert state.uploads[state.versions[0]["upload_id"]] == bundle_zip.read_bytes()
        assert {k for _, k in state.keys} == {key}  # every POST of both runs carried it
        override = run(*command, "--idempotency-key", "my-own-key-1")
        assert override.returncode == 0 and "idempotency key: my-own-key-1" in override.stderr
        assert {k for _, k in state.keys[-3:]} == {"my-own-key-1"} and len(state.versions) == 2
        blank = run(*command, "--idempotency-key", " ")
        assert blank.returncode == 2 and "--idempotency-key ' '" in blank.stderr


def test_submitter_without_a_key_derives_a_deterministic_one(bundle_zip, tmp_path):
    other = tmp_path / "other.zip"
    bundle.package("random", other, "rnd")
    with TournamentServer(token="tok", seasons=("alpha", "beta")) as server:

        def keys(path: Path, season: str, name: str = "n") -> set[str]:
            before = len(server.state.keys)
            Submitter(server.url, "tok").submit(path, season, name)  # no idempotency_key given
            return {key for _, key in server.state.keys[before:]}

        first, again = keys(bundle_zip, "alpha"), keys(bundle_zip, "alpha")
        beta, renamed, other_bundle = keys(bundle_zip, "beta"), keys(bundle_zip, "alpha", "m"), keys(other, "alpha")
        # a real server refuses a key reused for a different request; the fake does too
        refused = httpx.post(f"{server.url}/stats/policies/submit/complete", json={"upload_id": "x", "name": "n"},
                             headers={"X-Auth-Token": "tok", "Idempotency-Key": next(iter(first))})  # fmt: skip
        versions = len(server.state.versions)
    (key,) = first
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert again == first
    assert key == submission_key(hashlib.sha256(bundle_zip.read_bytes()).hexdigest(), "n", "alpha", server.url)
    assert key == submission_key(hashlib.sha256(bundle_zip.read_bytes()).hexdigest(), "n", "alpha", server.url + "/")
    assert len(beta | renamed | other_bundle) == 3 and key not in beta | renamed | other_bundle
    assert versions == 4  # the second identical submission made no new version
    assert refused.status_code == 422


# --- structured logs --------------------------------------------------------------------------


def test_every_command_logs_json_lines(tmp_path, checkpoint):
    log = tmp_path / "logs" / "evaluate.jsonl"
    out = tmp_path / "evals.parquet"
    result = run("--log-json", str(log), "evaluate", "--policy", "random", "--mission", "cogs.tiny",
                 "--episodes", "2", "--seed", "0", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["phase"] for e in events] == ["start", "end"]
    assert all(e["command"] == "evaluate" and e["timestamp"].endswith("+00:00") for e in events)
    end = events[-1]
    assert end["status"] == "ok" and end["duration_s"] > 0
    assert end["metrics"]["rows"] == 4 and end["metrics"]["agent_steps_per_second"] > 0
    assert "wrote" in result.stderr  # the human-readable line still goes to the terminal
    bad_log = tmp_path / "bad.jsonl"
    bad = run("--log-json", str(bad_log), "evaluate", "--policy", "nope", "--mission", "cogs.tiny", "--episodes",
              "1", "--seed", "0", "--out", str(tmp_path / "x.parquet"))  # fmt: skip
    assert bad.returncode == 2
    end = json.loads(bad_log.read_text().splitlines()[-1])
    assert end["status"] == "error" and "unknown policy 'nope'" in end["error"]


@pytest.mark.parametrize("season", ["x/../..", "a?b=c", "a#frag", "with space", "../x"])
def test_season_names_stay_one_path_segment(bundle_zip, season):
    """A season name is user text: it is percent-encoded into one path segment, so `/`, `..`,
    `?` and `#` cannot send the POST (and its token) to another endpoint."""
    with TournamentServer(token="tok", seasons=(season,)) as server:
        result = Submitter(server.url, "tok", idempotency_key="k").submit(bundle_zip, season, "n")
        posts = [path for method, path in server.state.requests if method == "POST"]
    assert result["season"] == season and server.state.submissions == [(season, result["policy_version_id"])]
    assert posts[-1] == f"/tournament/seasons/{quote(season, safe='')}/submissions"


def test_dot_season_names_are_refused_before_any_request(bundle_zip):
    with TournamentServer(token="tok", seasons=("..",)) as server:
        for season in ("..", ".", ""):
            with pytest.raises(UserError, match=f"season name '{re.escape(season)}' is not a season"):
                Submitter(server.url, "tok", idempotency_key="k").submit(bundle_zip, season, "n")
        assert server.state.requests == []

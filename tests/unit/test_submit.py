"""Submission (daf/ops/submit.py): against a local tournament server with injected failures, no
duplicates, clear errors, resumable with an idempotency key; https only; season names stay one
path segment."""

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from helpers import run_daf
from tournament_server import TournamentServer

from daf.errors import UserError
from daf.ops import auth, bundle
from daf.ops.submit import Submitter, require_https, submission_key


def test_submit_survives_injected_failures_without_duplicates(bundle_zip, tmp_path):
    config = tmp_path / "cogames.yaml"
    with TournamentServer(token="secret-token") as server:
        auth.save_token(config, server.url, "secret-token")
        state = server.state
        state.fail_next("presigned-url", "503")  # the server is busy once
        state.fail_next("put", "drop")  # the bytes arrive, the connection dies: the client must retry
        state.fail_next("complete", "500-after")  # applied, but the answer is lost
        state.fail_next("submissions", "drop")
        result = run_daf("submit", str(bundle_zip), "--season", "alpha", "--server", server.url, "--backoff", "0.05",
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
        missing = run_daf("submit", str(bundle_zip), "--season", "alpha", "--server", server.url, "--auth-config",
                          str(config))  # fmt: skip
        assert (
            missing.returncode == 2 and f"not logged in to {server.url}: run `daf login {server.url}`" in missing.stderr
        )
        auth.save_token(config, server.url, "stale")
        rejected = run_daf("submit", str(bundle_zip), "--season", "alpha", "--server", server.url, "--auth-config",
                           str(config))  # fmt: skip
        assert rejected.returncode == 2
        assert "rejected the login token (expired or revoked): invalid token; run: daf login" in rejected.stderr
        auth.save_token(config, server.url, "secret-token")
        nowhere = run_daf("submit", str(bundle_zip), "--season", "omega", "--server", server.url, "--auth-config",
                          str(config))  # fmt: skip
        assert nowhere.returncode == 2 and "submitting to season 'omega': not found" in nowhere.stderr
        closed = run_daf("submit", str(bundle_zip), "--season", "archived", "--server", server.url, "--auth-config",
                         str(config))  # fmt: skip
        assert closed.returncode == 2
        assert (
            "submitting to season 'archived': not allowed by" in closed.stderr
            and "season archived is closed" in closed.stderr
        )
        server.state.fail_next("presigned-url", "503", "503", "503")
        busy = run_daf("submit", str(bundle_zip), "--season", "alpha", "--server", server.url, "--attempts", "3",
                       "--backoff", "0.01", "--auth-config", str(config))  # fmt: skip
        assert busy.returncode == 2 and "failed after 3 attempts (HTTP 503)" in busy.stderr
    insecure = run_daf("submit", str(bundle_zip), "--season", "alpha", "--server", "http://tournament.example",
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
        first = run_daf(*command)
        assert first.returncode == 2, first.stderr
        key = re.search(r"^idempotency key: ([0-9a-f]{32})$", first.stderr, re.M).group(1)
        error = first.stderr.strip().splitlines()[-1]
        assert error.startswith("daf: error: submitting to season 'alpha' failed after 2 attempts (HTTP 503)")
        assert error.endswith(f"rerun the same command to resume it (idempotency key {key})")
        assert len(state.versions) == 1 and state.submissions == []
        second = run_daf(*command)
        assert second.returncode == 0, second.stderr
        assert re.search(r"^idempotency key: ([0-9a-f]{32})$", second.stderr, re.M).group(1) == key
        answer = json.loads(second.stdout)
        assert len(state.issued) == 1 and len(state.uploads) == 1 and len(state.versions) == 1
        assert answer["policy_version_id"] == state.versions[0]["id"] and answer["idempotency_key"] == key
        assert state.submissions == [("alpha", answer["policy_version_id"])]
        assert state.uploads[state.versions[0]["upload_id"]] == bundle_zip.read_bytes()
        assert {k for _, k in state.keys} == {key}  # every POST of both runs carried it
        override = run_daf(*command, "--idempotency-key", "my-own-key-1")
        assert override.returncode == 0 and "idempotency key: my-own-key-1" in override.stderr
        assert {k for _, k in state.keys[-3:]} == {"my-own-key-1"} and len(state.versions) == 2
        blank = run_daf(*command, "--idempotency-key", " ")
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

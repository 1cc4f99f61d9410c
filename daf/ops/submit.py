"""`daf submit BUNDLE --season NAME`: the CoGames presigned-upload flow over httpx.

1. POST {server}/stats/policies/submit/presigned-url         -> {upload_url, upload_id, s3_key}
2. PUT  upload_url  (the bundle zip, Content-Type application/zip)
3. POST {server}/stats/policies/submit/complete {upload_id, name} -> {id, name, version}
4. POST {server}/tournament/seasons/{season}/submissions {policy_version_id} -> {pools}

Requests carry the login token in `X-Auth-Token` (as cogames does). Network errors and 5xx
answers are retried with exponential backoff; every POST carries one `Idempotency-Key` for
the whole submission, derived from the bundle's sha256, the policy name, the season and the
server (`submission_key`), so it is the same in every process: a retried request, or a rerun
of the same command after one that gave up, whose first attempt did reach the server is not
applied twice (the server answers with the first upload id and policy version). The PUT of the
bundle goes to the same presigned object each time, so a retry replaces the bytes rather than
uploading a second bundle. Only https is allowed, except for loopback addresses (a local test
server).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from daf.errors import UserError
from daf.ops.auth import normalize_server
from daf.paths import is_path_name, name_rule

RETRY_STATUSES = {500, 502, 503, 504}
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, no spaces: a safe header value
KEY_RULE = "1-255 visible ASCII characters, no spaces"


def submission_key(bundle_sha256: str, name: str, season: str, server: str) -> str:
    """The `Idempotency-Key` of one submission: the same bundle bytes, policy name, season and
    server give the same key in any process, so rerunning a submission that gave up resumes it
    instead of creating a second upload and policy version."""
    parts = urlsplit(normalize_server(server))
    server = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, parts.fragment))
    # a JSON list quotes and escapes each field, so no two different tuples give the same text
    text = json.dumps(["daf-submit/1", bundle_sha256, name, season, server])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def require_https(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "http" and loopback:
        return
    raise UserError(f"{what} '{url}' must use https (plain http is allowed only for 127.0.0.1/localhost)")


@dataclass
class Submitter:
    server: str
    token: str
    attempts: int = 4
    backoff: float = 0.5  # seconds; doubles per retry
    timeout: float = 60.0
    idempotency_key: str = ""  # "": derived from the submission at submit() time (submission_key)
    log: object = None  # callable(str) for human-readable progress
    _key: str = field(default="", init=False, repr=False)  # the key of the submission in progress

    def _say(self, text: str) -> None:
        if self.log:
            self.log(text)

    def _request(self, client: httpx.Client, method: str, url: str, what: str, **kwargs) -> httpx.Response:
        for attempt in range(1, self.attempts + 1):
            try:
                response = client.request(method, url, timeout=self.timeout, **kwargs)
            except httpx.TransportError as exc:  # connection refused/reset, timeout
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return self._check(response, what)
                problem = f"HTTP {response.status_code}"
            if attempt == self.attempts:
                raise UserError(
                    f"{what} failed after {self.attempts} attempts ({problem}); nothing was submitted "
                    f"twice - rerun the same command to resume it (idempotency key {self._key})"
                )
            delay = self.backoff * 2 ** (attempt - 1)
            self._say(f"{what}: {problem}; retrying in {delay:.1f} s ({attempt}/{self.attempts - 1})")
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _check(self, response: httpx.Response, what: str) -> httpx.Response:
        code = response.status_code
        if code < 400:
            return response
        detail = ""
        try:
            body = response.json()
            detail = str(body.get("detail", "")) if isinstance(body, dict) else ""
        except ValueError:
            pass
        detail = f": {detail}" if detail else ""
        if code == 401:
            raise UserError(
                f"{self.server} rejected the login token (expired or revoked){detail}; run: daf login {self.server}"
            )
        if code == 403:
            raise UserError(f"{what}: not allowed by {self.server}{detail}")
        if code == 404:
            raise UserError(f"{what}: not found on {self.server}{detail}")
        raise UserError(f"{what}: HTTP {code} from {self.server}{detail}")

    def submit(self, bundle: Path, season: str, name: str) -> dict:
        require_https(self.server, "server")
        if not season.strip("."):  # '', '.', '..' would be dot segments, which URL normalisation removes
            raise UserError(f"season name '{season}' is not a season (see the server's seasons)")
        if not is_path_name(name):  # the policy's name on the server (and in its result paths)
            raise UserError(f"policy name {name!r} must match {name_rule()}; pass --name")
        if not bundle.is_file():
            raise UserError(f"bundle '{bundle}' does not exist (make one with `daf package`)")
        data = bundle.read_bytes()
        key = self.idempotency_key or submission_key(hashlib.sha256(data).hexdigest(), name, season, self.server)
        if not KEY_PATTERN.fullmatch(key):
            raise UserError(f"idempotency key {key!r} is not usable: use {KEY_RULE}")
        self._key = key
        self._say(f"idempotency key: {key}")
        headers = {"X-Auth-Token": self.token, "Idempotency-Key": key}
        with httpx.Client(headers=headers, follow_redirects=False) as client:
            self._say(f"requesting an upload URL from {self.server}")
            presigned = self._request(
                client, "POST", f"{self.server}/stats/policies/submit/presigned-url", "requesting an upload URL"
            ).json()
            upload_url, upload_id = presigned["upload_url"], presigned["upload_id"]
            require_https(upload_url, "upload URL")
            self._say(f"uploading {bundle.name} ({len(data):,} bytes)")
            # the presigned URL gets no login token: it is for the storage service, not the server
            with httpx.Client(follow_redirects=False) as storage:
                self._request(
                    storage,
                    "PUT",
                    upload_url,
                    "uploading the bundle",
                    content=data,
                    headers={"Content-Type": "application/zip"},
                )
            version = self._request(
                client,
                "POST",
                f"{self.server}/stats/policies/submit/complete",
                "completing the upload",
                json={"upload_id": upload_id, "name": name},
            ).json()
            self._say(f"policy version {version.get('name')} v{version.get('version')} ({version['id']})")
            joined = self._request(
                client,
                "POST",
                f"{self.server}/tournament/seasons/{quote(season, safe='')}/submissions",  # user text: one segment
                f"submitting to season '{season}'",
                json={"policy_version_id": version["id"]},
            ).json()
        return {
            "policy_version_id": version["id"],
            "name": version.get("name"),
            "version": version.get("version"),
            "season": season,
            "pools": joined.get("pools", []),
            "upload_id": upload_id,
            "idempotency_key": key,
        }

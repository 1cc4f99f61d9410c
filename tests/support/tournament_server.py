"""A local tournament server implementing the CoGames presigned-upload protocol, with
injectable failures, for `daf submit` tests. It honours `Idempotency-Key` as a real server
does, across requests and client processes: a POST whose (key, endpoint) it has already applied
returns the first answer and applies nothing again (so no second upload id, policy version or
season entry); the same key on the same endpoint with a different body is refused with 422, so
a client that reuses a key for another request is caught rather than handed a stale answer.
Failed attempts (5xx before applying, dropped connections) are not remembered."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


class State:
    def __init__(self, token: str, seasons: tuple[str, ...] = ("alpha",)):
        self.token = token
        self.seasons = set(seasons)
        self.closed = {"archived"}  # exists, but takes no submissions
        self.issued: set[str] = set()  # upload ids handed out
        self.uploads: dict[str, bytes] = {}  # upload id -> stored bytes
        self.put_attempts: dict[str, int] = {}
        self.versions: list[dict] = []
        self.submissions: list[tuple[str, str]] = []  # (season, policy version id)
        self.applied: dict[tuple[str, str], tuple[str, dict]] = {}  # (key, path) -> (body sha256, answer)
        self.keys: list[tuple[str, str]] = []  # (path, Idempotency-Key header) of every POST, in order
        self.failures: dict[str, list] = {}  # path kind -> queue of failures ("503", "drop", "500-after")
        self.requests: list[tuple[str, str]] = []
        self.base = ""

    def fail_next(self, kind: str, *failures: str) -> None:
        self.failures.setdefault(kind, []).extend(failures)


def make_handler(state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _send(self, code: int, body: dict | None = None) -> None:
            data = json.dumps(body or {}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _failure(self, kind: str) -> str | None:
            queue = state.failures.get(kind) or []
            return queue.pop(0) if queue else None

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def do_PUT(self):  # noqa: N802
            state.requests.append(("PUT", self.path))
            data = self._body()
            upload_id = self.path.rsplit("/", 1)[-1]
            if upload_id not in state.issued:
                return self._send(404, {"detail": "unknown upload"})
            state.put_attempts[upload_id] = state.put_attempts.get(upload_id, 0) + 1
            failure = self._failure("put")
            if failure == "drop":  # the bytes arrived, then the connection died: the client cannot know
                state.uploads[upload_id] = data
                self.close_connection = True
                self.connection.close()
                return
            if failure == "503":
                return self._send(503, {"detail": "storage busy"})
            state.uploads[upload_id] = data  # same presigned object: a retry replaces, never adds
            self._send(200)

        def do_POST(self):  # noqa: N802
            state.requests.append(("POST", self.path))
            state.keys.append((self.path, self.headers.get("Idempotency-Key", "")))
            raw = self._body()
            body = json.loads(raw or b"{}")
            if self.headers.get("X-Auth-Token") != state.token:
                return self._send(401, {"detail": "invalid token"})
            key = (self.headers.get("Idempotency-Key", ""), self.path)
            fingerprint = hashlib.sha256(raw).hexdigest()
            if key[0] and key in state.applied:
                first_fingerprint, first_answer = state.applied[key]
                if first_fingerprint != fingerprint:
                    return self._send(422, {"detail": "Idempotency-Key reused with a different request body"})
                return self._send(200, first_answer)
            kind = self.path.strip("/").split("/")[-1]
            failure = self._failure(kind)
            if failure == "503":
                return self._send(503, {"detail": "try again"})
            if failure == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if self.path == "/stats/policies/submit/presigned-url":
                upload_id = str(uuid.uuid4())
                state.issued.add(upload_id)
                answer = {"upload_url": f"{state.base}/storage/{upload_id}", "upload_id": upload_id,
                          "s3_key": f"uploads/{upload_id}.zip"}  # fmt: skip
            elif self.path == "/stats/policies/submit/complete":
                if body.get("upload_id") not in state.uploads:
                    return self._send(400, {"detail": "upload not received"})
                answer = {"id": str(uuid.uuid4()), "name": body["name"], "version": len(state.versions) + 1}
                state.versions.append({**answer, "upload_id": body["upload_id"]})
            elif self.path.startswith("/tournament/seasons/") and self.path.endswith("/submissions"):
                season = unquote(self.path.split("/")[3])  # one percent-encoded path segment
                if season in state.closed:
                    return self._send(403, {"detail": f"season {season} is closed"})
                if season not in state.seasons:
                    return self._send(404, {"detail": f"season {season} not found"})
                state.submissions.append((season, body["policy_version_id"]))
                answer = {"pools": [f"{season}-qualifiers"]}
            else:
                return self._send(404, {"detail": "no such endpoint"})
            if key[0]:
                state.applied[key] = (fingerprint, answer)
            if failure == "500-after":  # applied, but the answer is lost
                return self._send(500, {"detail": "internal error"})
            self._send(200, answer)

    return Handler


class TournamentServer:
    def __init__(self, token: str, seasons: tuple[str, ...] = ("alpha",)):
        self.state = State(token, seasons)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.state.base = self.url
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> TournamentServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

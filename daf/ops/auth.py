"""Login tokens for tournament servers, stored the way CoGames stores them.

`daf login SERVER` runs the browser-callback flow: a one-shot HTTP server on 127.0.0.1 at a
free port, the browser opens
`{SERVER}/tokens/cli?callback=http://127.0.0.1:PORT/callback/SECRET`, and the server redirects
there with `?token=...`. SECRET is a fresh random path segment (secrets.token_urlsafe(32)), so
a local process or web page that finds the port cannot plant a token of its own: any other path
gets 404 and the login keeps waiting. The token is written under
`login_tokens.{SERVER}` in a YAML file (default ~/.metta/cogames.yaml) created with mode
0600, by temp file + rename. It is never printed or logged.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import yaml

from daf.errors import UserError

DEFAULT_CONFIG = Path(os.environ.get("DAF_AUTH_CONFIG", Path.home() / ".metta" / "cogames.yaml"))


def normalize_server(server: str) -> str:
    parts = urlsplit(server.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"server '{server}' is not an http(s) URL, e.g. https://softmax.com/api")
    return server.strip().rstrip("/")


def _read(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"auth config '{path}' is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"auth config '{path}' must be a mapping")
    return data


def tokens(path: Path) -> dict[str, str]:
    stored = _read(path).get("login_tokens") or {}
    return {str(k): str(v) for k, v in stored.items()} if isinstance(stored, dict) else {}


def load_token(path: Path, server: str) -> str | None:
    return tokens(path).get(normalize_server(server))


def save_token(path: Path, server: str, token: str) -> None:
    """Merge the token into the YAML file (other keys kept); the file is 0600 from birth."""
    token = token.strip()
    if not token or any(c.isspace() for c in token):
        raise UserError("the token is empty or contains whitespace; nothing saved")
    data = _read(path)
    stored = data.get("login_tokens") if isinstance(data.get("login_tokens"), dict) else {}
    stored[normalize_server(server)] = token
    data["login_tokens"] = stored
    _write(path, data)


def remove_token(path: Path, server: str) -> bool:
    data = _read(path)
    stored = data.get("login_tokens") or {}
    if normalize_server(server) not in stored:
        return False
    del stored[normalize_server(server)]
    _write(path, {**data, "login_tokens": stored})
    return True


def _write(path: Path, data: dict) -> None:
    """Replace the YAML file atomically; it is 0600 from birth (mkstemp), never world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(data, handle, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def token_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (seconds since the epoch); None for opaque tokens."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, json.JSONDecodeError):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, (int, float)) else None


def login_url(server: str, callback: str) -> str:
    return f"{normalize_server(server)}/tokens/cli?callback={quote(callback, safe='')}"


class _Callback(BaseHTTPRequestHandler):
    token: str | None = None
    expected_path: str = ""  # "/callback/SECRET", set per login; "" accepts nothing

    def do_GET(self):  # noqa: N802 (http.server's name)
        parts = urlsplit(self.path)
        expected = type(self).expected_path
        # exact match on the raw path, in constant time so response timing leaks nothing of SECRET
        if not expected or not secrets.compare_digest(parts.path.encode(), expected.encode()):
            return self._answer(404, "text/plain", b"DAF login: not found\n")
        token = parse_qs(parts.query).get("token", [None])[0]
        if not token:
            return self._answer(400, "text/plain", b"DAF login: this address expects ?token=...\n")
        type(self).token = token
        self._answer(200, "text/html", b"<html><body><p>DAF is logged in. You can close this tab.</p></body></html>")

    def _answer(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # the request line carries the token: never log it
        pass


def browser_login(server: str, open_browser: bool = True, timeout: float = 300.0, announce=print) -> str:
    """Run the callback flow; returns the token (the caller stores it)."""
    import webbrowser

    expected_path = f"/callback/{secrets.token_urlsafe(32)}"  # unguessable: only the server is told it
    handler = type("Callback", (_Callback,), {"token": None, "expected_path": expected_path})
    httpd = HTTPServer(("127.0.0.1", 0), handler)  # port 0: a free port
    address = f"http://127.0.0.1:{httpd.server_address[1]}"
    url = login_url(server, address + expected_path)
    thread = threading.Thread(target=_serve_until_token, args=(httpd, handler, timeout), daemon=True)
    thread.start()
    announce(f"Open this URL to log in (waiting up to {timeout:.0f} s): {url}")
    if open_browser:
        webbrowser.open(url)
    thread.join(timeout + 5)
    httpd.server_close()
    if handler.token is None:
        raise UserError(f"no token arrived at {address}/callback/... within {timeout:.0f} s; "
                        "retry, or use --token-stdin")  # fmt: skip
    return handler.token


def _serve_until_token(httpd: HTTPServer, handler, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    httpd.timeout = 0.5
    while handler.token is None and time.monotonic() < deadline:
        httpd.handle_request()

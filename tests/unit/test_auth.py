"""Login and tokens (daf/ops/auth.py): the browser login's callback, tokens from stdin, logout,
`daf auth status`; tokens are stored privately and never printed."""

import queue
import re
import stat
import subprocess
import threading
import time

import httpx
import yaml
from helpers import DAF, fake_jwt, run_daf

from daf.ops import auth


def test_browser_login_stores_the_token_privately(tmp_path):
    config = tmp_path / "home" / ".metta" / "cogames.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(yaml.safe_dump({"other": {"kept": True}}))
    token = fake_jwt(time.time() + 3600)
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
    status = run_daf("auth", "status", "--auth-config", str(config))
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
    result = run_daf("login", "http://127.0.0.1:9/", "--token-stdin", "--auth-config", str(config), stdin="abc123\n")
    assert result.returncode == 0 and "abc123" not in result.stdout + result.stderr
    assert auth.load_token(config, "http://127.0.0.1:9") == "abc123"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert run_daf("login", "ftp://x", "--token-stdin", "--auth-config", str(config), stdin="t\n").returncode == 2
    assert run_daf("auth", "logout", "http://127.0.0.1:9", "--auth-config", str(config)).returncode == 0
    assert auth.load_token(config, "http://127.0.0.1:9") is None
    status = run_daf("auth", "status", "--auth-config", str(config))
    assert status.returncode == 1 and "not logged in" in status.stdout

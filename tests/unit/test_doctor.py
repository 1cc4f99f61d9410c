"""`daf doctor` (daf/ops/doctor.py): the environment checks, their JSON report, the fix for a pin
that is off, and the login token's expiry."""

import json
import re
import time

from helpers import fake_jwt, run_daf

from daf.ops import auth, doctor


def test_doctor_passes_here_and_reports_json(tmp_path):
    result = run_daf("doctor", "--json", "--results", str(tmp_path), "--auth-config", str(tmp_path / "none.yaml"))
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
    result = run_daf("doctor", "--constraints", str(pins), "--results", str(tmp_path),
                     "--auth-config", str(tmp_path / "none.yaml"))  # fmt: skip
    assert result.returncode == 1
    assert re.search(r"FAIL\s+mettagrid\s+0\.26\.21 installed, 0\.26\.99 pinned", result.stdout)
    assert re.search(r"WARN\s+numpy", result.stdout)  # not required: a warning
    assert "mettagrid: pip install -c constraints.txt 'mettagrid==0.26.99'" in result.stdout
    assert result.stderr.strip() == "daf doctor: 1 required check(s) failed: mettagrid"


def test_doctor_reads_token_expiry(tmp_path):
    config = tmp_path / "cogames.yaml"
    auth.save_token(config, "https://example.org/api", fake_jwt(time.time() - 60))
    check = doctor.check_auth(config, "https://example.org/api")
    assert check.status == "fail" and "EXPIRED" in check.detail and check.fix == "daf login https://example.org/api"
    auth.save_token(config, "https://example.org/api", fake_jwt(time.time() + 7200))
    assert doctor.check_auth(config, None).status == "ok"

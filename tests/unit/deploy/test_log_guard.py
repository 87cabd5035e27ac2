"""The suite-wide log check (tests/support/log_guard.py) catches what it must and passes what is clean."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from support import log_guard
from support.log_guard import Detector

SECRET = "pw-9f8e7d6c5b4a"


@pytest.mark.parametrize("line", [
    f'{{"msg":"connecting","detail":"{SECRET}"}}',  # a registered secret anywhere
    f"sasl.jaas.config ... password=\"{SECRET[:3]}\n{SECRET[3:]}\"",  # wrapped by a terminal
    "SEQSIGNAL_REDIS__PASSWORD=hunter2hunter2",
    '{"msg":"login","password": "opensesame"}',
    "auth token: eyJhbGciOiJIUzI1NiJ9.e30.x",
    "hmac_key='k3y-v4lue'",
    "Action(schema_version=1 event_id='x' user_id='223789' action='reply')",
    '{"msg":"forgot","user_ids":["1","2"]}',
    'window for "376989" updated',  # a registered raw user id as a quoted string
])
def test_detector_catches(line: str) -> None:
    assert Detector(secrets=[SECRET], user_ids=["376989"]).scan_line(line)


@pytest.mark.parametrize("line", [
    "\tssl.keystore.password = null",
    "\tsasl.jaas.config = [hidden]",
    "\tdelegation.token.secret.key = null",
    "\tdelegation.token.expiry.time.ms = 86400000",
    '{"redis":{"password":"**********"}}',
    "check SEQSIGNAL_KAFKA__SASL_USERNAME and SEQSIGNAL_KAFKA__SASL_PASSWORD",
    '{"msg":"worker start failed","error_class":"AuthenticationError","pid":376989}',
    "Failed authentication with /127.0.0.1 (invalid credentials with SASL mechanism SCRAM-SHA-512)",
])
def test_detector_passes_clean_lines(line: str) -> None:
    assert Detector(secrets=[SECRET], user_ids=["376989"]).scan_line(line) == []


def test_findings_mask_the_secret(tmp_path: Path) -> None:
    detector = Detector(secrets=[SECRET])
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "worker.log").write_text(f"ok\nleaked {SECRET}\n")
    (tmp_path / "w" / "data.json").write_text(SECRET)  # not a log file: not scanned
    log_guard.DETECTOR, saved = detector, log_guard.DETECTOR
    try:
        [finding] = log_guard.scan_files([tmp_path])
    finally:
        log_guard.DETECTOR = saved
    assert (finding.line_no, finding.kind) == (2, "registered secret")
    assert SECRET not in finding.excerpt and "<SECRET>" in finding.excerpt


def test_handler_sees_in_process_records() -> None:
    log_guard.DETECTOR.add_secret("in-process-" + SECRET)
    before = len(log_guard._FINDINGS)
    logging.getLogger().addHandler(log_guard._HANDLER)
    try:
        logging.getLogger("seqsignal.test").warning("leaking %s", "in-process-" + SECRET)
    finally:
        found = log_guard._FINDINGS[before:]
        del log_guard._FINDINGS[before:]  # this test's leak is on purpose: keep the session green
        log_guard.DETECTOR.secrets.discard("in-process-" + SECRET)
    assert [f.kind for f in found] == ["registered secret"]


def test_a_session_that_logs_a_password_fails(tmp_path: Path) -> None:
    """The plugin end to end: a child pytest session whose test logs a password exits 1 and says why."""
    (tmp_path / "test_leak.py").write_text(
        "import logging\n"
        "def test_leaks():\n"
        "    logging.getLogger('x').error('connecting with password=%s', 'topsecret1')\n"
        "def test_clean():\n"
        "    logging.getLogger('x').error('connecting with password=%s', '***')\n")
    tests_dir = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "support.log_guard", "-p", "no:cacheprovider",
           "--rootdir", str(tmp_path), "-c", "/dev/null", str(tmp_path)]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(tests_dir), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1, done.stdout[-2000:]
    assert "2 passed" in done.stdout and "log check: 1 log lines" in done.stdout, done.stdout[-2000:]
    assert "topsecret1" in done.stdout  # not registered: the line is shown as logged, so one can find it

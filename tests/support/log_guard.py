"""The suite-wide log check (a pytest plugin, registered by tests/conftest.py): no log line emitted during the
session carries a password, a token or a raw user id.

Two sources are scanned: every record that reaches the root logger in the pytest process (a handler
attached at session start, each record checked as it is emitted), and, at the end, every log file under the
session's tmp dir (the worker logs the harnesses capture, the stacks' Kafka and Redis logs) and under a shared
stack's run dir. A finding fails the session (exit status 1) and is listed with the secret masked.

What counts as a finding, line by line (`Detector.scan_line`):
- a registered secret, anywhere in the line, also when a terminal wrapped it (registered by the tests that
  make them: the secure stack's passwords, the wrong passwords; plus any SEQSIGNAL_*PASSWORD/_TOKEN/_KEY value
  in the environment);
- `<...password|passwd|secret|token|hmac_key|api_key> = value` or `: value` (also JSON `"key": "value"`)
  with a value that is not a redaction (`***`, `**********`, `[hidden]`, `null`, `None`, empty);
- a raw user id: `user_id` / `actor_id` / `target_user_id` (and `userId`, `user_ids`) followed by = or : and a
  value (what an event's repr or an f-string would print), or a registered user id as a quoted string.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

_SECRET_KEY = re.compile(
    r"""(?ix) ["']? [\w.\-]*? (password|passwd|secret|token|hmac_key|api_key) ["']? \s* [=:] \s*
        (?P<value> "[^"]*" | '[^']*' | [^\s,;)}\]]+ )""")
_USER_KEY = re.compile(
    r"""(?x) ["']? \b (user_id|user_ids|userId|actor_id|target_user_id) ["']? \s* [=:] \s*
        (?P<value> "[^"]*" | '[^']*' | \[[^\]]*\] | [^\s,;)}\]]+ )""")
REDACTED = {"", "***", "**********", "'**********'", "[hidden]", "<redacted>", "null", "none", "redacted",
            "secretstr('**********')"}
LOG_SUFFIXES = (".log", ".out", ".err")
_KAFKA_SEGMENT = re.compile(r"^\d{20}\.log$")  # a topic's data (the records themselves), not a log of lines
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Finding:
    source: str
    line_no: int
    kind: str
    excerpt: str  # the line with every registered secret masked, cut to 200 characters


class Detector:
    """Finds passwords, tokens and raw user ids in log lines; registered values are matched exactly."""

    def __init__(self, secrets: Iterable[str] = (), user_ids: Iterable[str] = ()) -> None:
        self.secrets: set[str] = set()
        self.user_ids: set[str] = set()
        for s in secrets:
            self.add_secret(s)
        for u in user_ids:
            self.add_user_id(u)

    def add_secret(self, value: str) -> None:
        if len(value) >= 6:  # shorter values would match by chance
            self.secrets.add(value)

    def add_user_id(self, value: str) -> None:
        self.user_ids.add(value)

    def scan_line(self, line: str) -> list[str]:
        """The kinds of findings in one line ([] when clean)."""
        kinds: list[str] = []
        joined = "".join(line.split())
        if any(s in line or s in joined for s in self.secrets):
            kinds.append("registered secret")
        for m in _SECRET_KEY.finditer(line):
            value = m.group("value").lower()
            if value not in REDACTED and value.strip("\"'") not in REDACTED:
                kinds.append(f"{m.group(1).lower()} value")
                break
        if _USER_KEY.search(line):
            kinds.append("user id field")
        if self.user_ids and any(f'"{u}"' in line or f"'{u}'" in line for u in self.user_ids):
            kinds.append("registered user id")
        return kinds

    def mask(self, line: str) -> str:
        for s in self.secrets:
            line = line.replace(s, "<SECRET>")
        return line[:200]

    def scan_text(self, text: str, source: str) -> list[Finding]:
        return [Finding(source, i, kind, self.mask(line))
                for i, line in enumerate(text.splitlines(), 1) for kind in self.scan_line(line)]


DETECTOR = Detector()  # tests register what they generate: log_guard.DETECTOR.add_secret(...)
_FINDINGS: list[Finding] = []
_SUMMARY: list[str] = []


class _GuardHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a record that cannot be formatted is not ours to judge
            return
        _FINDINGS.extend(DETECTOR.scan_text(line, f"log record {record.name}"))


_HANDLER = _GuardHandler(logging.NOTSET)
_HANDLER.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))


def _env_secrets() -> None:
    for name, value in os.environ.items():
        if name.startswith("SEQSIGNAL_") and any(w in name for w in ("PASSWORD", "TOKEN", "HMAC_KEY")):
            DETECTOR.add_secret(value)


def scan_files(roots: Iterable[Path]) -> list[Finding]:
    """Findings in every log-like file (*.log, *.out, *.err) under roots; Kafka's segment files (the topics'
    records, which carry user ids by design) are data, not logs, and are skipped."""
    found: list[Finding] = []
    for root in roots:
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if (path.is_file() and path.name.endswith(LOG_SUFFIXES) and not _KAFKA_SEGMENT.match(path.name)
                    and path.stat().st_size <= MAX_FILE_BYTES):
                found += DETECTOR.scan_text(path.read_text(errors="replace"), str(path))
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    _env_secrets()
    logging.getLogger().addHandler(_HANDLER)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    logging.getLogger().removeHandler(_HANDLER)
    roots = [session.config._tmp_path_factory.getbasetemp()] if hasattr(session.config, "_tmp_path_factory") \
        else []
    roots += [Path(d).expanduser() / "logs" for d in (os.environ.get("SEQSIGNAL_TEST_STACK_DIR"),
                                                     os.environ.get("SEQSIGNAL_TEST_SECURE_STACK_DIR")) if d]
    findings = _FINDINGS + scan_files(roots)
    if findings:
        _SUMMARY.append(f"ERROR: log check: {len(findings)} log lines carry a password, token or user id:")
        _SUMMARY.extend(f"  {f.source}:{f.line_no}: {f.kind}: {f.excerpt}" for f in findings[:20])
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        _SUMMARY.append(f"log check: clean ({len(DETECTOR.secrets)} registered secrets; in-process records "
                        f"and the log files under {', '.join(map(str, roots))})")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _SUMMARY:
        terminalreporter.write_line(line, red=line.startswith("ERROR"), bold=True)

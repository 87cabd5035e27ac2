"""Shared fixtures: the real local stack (Kafka KRaft + Redis), per-test topics and Redis keys, settings.

One stack per pytest session, in its own run directory under pytest's tmp dir, torn down at the end.
To share one already running stack instead (several people testing at once, or to skip the start-up),
point SEQSIGNAL_TEST_STACK_DIR at its run directory:

    .venv/bin/seqsignal stack up                      # once; run dir ~/.cache/seqsignal/stack
    SEQSIGNAL_TEST_STACK_DIR=~/.cache/seqsignal/stack pytest tests/integration

A shared stack is started there if it is not up, and never stopped by the tests. Isolation between tests
(and between people on one stack) comes from unique topic prefixes, Redis key prefixes and consumer groups.

`pytest --require-tiers unit,integration,reliability` fails the run when any tier executed no test.

The suite-wide log check (tests/support/log_guard.py, registered here) fails the session when any log line
emitted in-process, or written to a log file under the session's tmp dir, carries a password, a token or a
raw user id.
"""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from support import log_guard

from seqsignal.deploy.local import process, redis_cluster
from seqsignal.deploy.local.redis import RedisSetupError
from seqsignal.deploy.local.stack import StackSettings, StackState, down, up
from seqsignal.schemas.topics import Topics
from seqsignal.workers.settings import KafkaSettings, RedisSettings, Settings
from seqsignal.workers.topic_admin import scratch_topics

TIERS = ("unit", "integration", "reliability")
DEFAULT_PARTITIONS = 3
_TESTS_DIR = Path(__file__).resolve().parent
_EXECUTED: dict[str, int] = {}  # tier -> tests that ran their call phase this session


# --- tiers ------------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--require-tiers", default="", help="Comma-separated tiers (tests/<tier>) that must "
                     "each execute at least one test, else the run fails")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "partitions(n): partitions of each topic the `topics` fixture makes")
    if not config.pluginmanager.has_plugin("seqsignal-log-guard"):
        config.pluginmanager.register(log_guard, "seqsignal-log-guard")


def _tier(path: Path) -> str | None:
    try:
        rel = path.resolve().relative_to(_TESTS_DIR)
    except ValueError:
        return None
    return rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] in TIERS else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests under tests/integration and tests/reliability carry their tier's marker in any case."""
    for item in items:
        tier = _tier(item.path)
        if tier in ("integration", "reliability") and item.get_closest_marker(tier) is None:
            item.add_marker(getattr(pytest.mark, tier))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        tier = _tier(Path(report.fspath))
        if tier is not None:
            _EXECUTED[tier] = _EXECUTED.get(tier, 0) + 1


_TIER_REPORT: list[str] = []  # the line pytest_terminal_summary prints


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With --require-tiers, a tier that executed no test fails the run (the "no tests ran" trap)."""
    required = [t.strip() for t in session.config.getoption("--require-tiers").split(",") if t.strip()]
    if not required:
        return
    counts = {tier: _EXECUTED.get(tier, 0) for tier in required}
    summary = ", ".join(f"{tier}={n}" for tier, n in counts.items())
    missing = [tier for tier, n in counts.items() if n == 0]
    if missing:
        _TIER_REPORT.append(f"ERROR: tiers that ran no test: {', '.join(missing)} (ran: {summary})")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        _TIER_REPORT.append(f"tests executed per tier: {summary}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _TIER_REPORT:
        terminalreporter.write_line(line, red=line.startswith("ERROR"), bold=True)


# --- settings from a clean environment ---------------------------------------------------------------


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SEQSIGNAL_* from the outer environment and no running stack's stack.env: settings are the
    defaults plus what the test sets."""
    for name in list(os.environ):
        if name.startswith("SEQSIGNAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SEQSIGNAL_STACK_DIR", str(tmp_path / "no-stack"))


# --- the stack --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    """A running stack: shared (SEQSIGNAL_TEST_STACK_DIR) or this session's own, stopped at the end."""
    shared = os.environ.get("SEQSIGNAL_TEST_STACK_DIR")
    if shared:
        state, _ = up(StackSettings(dir=Path(shared).expanduser()))
        yield state
        return
    run_dir = tmp_path_factory.mktemp("stack")
    atexit.register(down, run_dir)  # also if the session dies before fixture teardown
    state, _ = up(StackSettings(dir=run_dir))
    try:
        yield state
    finally:
        down(run_dir)


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A startup-node URL of a 3-master Redis Cluster: SEQSIGNAL_TEST_REDIS_CLUSTER_URL when set (reused,
    e.g. from `seqsignal stack up --redis-cluster`), else this session's own, stopped at the end.

    Never skips: when the cluster cannot start (no redis-server, ...) every test using it errors.
    """
    shared = os.environ.get("SEQSIGNAL_TEST_REDIS_CLUSTER_URL")
    if shared:
        yield shared
        return
    run_dir = tmp_path_factory.mktemp("redis-cluster")
    atexit.register(redis_cluster.stop, run_dir)  # also if the session dies before fixture teardown
    try:
        state = redis_cluster.start(run_dir)
    except (redis_cluster.ClusterError, RedisSetupError) as exc:
        pytest.fail(f"the local Redis Cluster did not start (cluster tests must run): {exc}", pytrace=False)
    try:
        yield state.url
    finally:
        redis_cluster.stop(run_dir)


@pytest.fixture
def kafka_bootstrap(stack: StackState) -> str:
    """host:port of the stack's broker."""
    return stack.bootstrap_servers


@pytest.fixture
def topics(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Iterator[Topics]:
    """Every topic of `Topics`, under a prefix unique to this test, created (3 partitions; model updates:
    one, compacted, as the app makes it) and deleted after.

    `@pytest.mark.partitions(6)` changes the partition count.
    """
    marker = request.node.get_closest_marker("partitions")
    partitions = int(marker.args[0]) if marker else DEFAULT_PARTITIONS
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.")
    with scratch_topics(kafka, partitions, client_id="seqsignal-tests") as names:
        yield names


@pytest.fixture
def redis_url(stack: StackState) -> str:
    """redis:// URL of the stack's Redis (database 0)."""
    return stack.redis_url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix unique to this test; every key under it is deleted after the test."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A redis.Redis client (bytes responses) on the stack's Redis; use it with `redis_prefix` keys."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def settings(kafka_bootstrap: str, topics: Topics, redis_url: str, redis_prefix: str,
             request: pytest.FixtureRequest) -> Settings:
    """Settings on the stack: this test's topic prefix, Redis key prefix, consumer group, web port."""
    marker = request.node.get_closest_marker("partitions")
    return Settings(
        _env_file=None,
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=topics.prefix,
                            partitions=int(marker.args[0]) if marker else DEFAULT_PARTITIONS),
        redis=RedisSettings(url=redis_url, key_prefix=redis_prefix),
        worker_id=f"seqsignal-test-{uuid.uuid4().hex[:8]}",
        web_port=process.free_port(),
    )

"""Issue 12 (7), security for real: the worker, a replay and a trainer cycle against `stack up --secure`
(Kafka SASL_SSL with SCRAM-SHA-512, Redis TLS-only with an ACL user); plaintext and anonymous clients are
refused; a wrong Kafka or Redis password ends the process non-zero with a clear error; no password (right or
wrong) is in any line the processes or the stack wrote."""

from __future__ import annotations

import atexit
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kafka import KafkaConsumer, TopicPartition
from pydantic import SecretStr
from support import log_guard
from support.trainer_harness import cycles, higgs_actions, run_cli
from support.worker_harness import ROOT, SEQSIGNAL, WorkerProcess, tiny_model, worker_env

from seqsignal.deploy.local import process, secure
from seqsignal.deploy.local.stack import StackSettings, StackState, down, up
from seqsignal.schemas.topics import Topics
from seqsignal.workers.kafka import kafka_python_kwargs, librdkafka_config
from seqsignal.workers.settings import KafkaSettings, RedisSettings, Settings
from seqsignal.workers.topic_admin import scratch_topics

ACTIONS, POSTS = 600, 60
WRONG = "wrong-" + uuid.uuid4().hex  # a wrong password, unique so that a leak of it is unmistakable


@pytest.fixture(scope="module")
def secure_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    """This module's own secure stack (SEQSIGNAL_TEST_SECURE_STACK_DIR: reuse one, never stopped)."""
    shared = os.environ.get("SEQSIGNAL_TEST_SECURE_STACK_DIR")
    run_dir = Path(shared).expanduser() if shared else tmp_path_factory.mktemp("secure-stack")
    if not shared:
        atexit.register(down, run_dir)
    t0 = time.monotonic()
    state, already = up(StackSettings(dir=run_dir, secure=True))
    for value in _passwords(state):  # the suite-wide log check (tests/support/log_guard.py) looks for them
        log_guard.DETECTOR.add_secret(value)
    for action in higgs_actions(0, ACTIONS):  # the users this module replays: never quoted in a log line
        log_guard.DETECTOR.add_user_id(action.user_id)
    print(f"\n[secure] stack up {time.monotonic() - t0:.1f}s (already up: {already}); broker ready "
          f"{state.broker_ready_s}s after start, format {state.format_s}s")
    try:
        yield state
    finally:
        if not shared:
            down(run_dir)


@pytest.fixture
def secure_settings(secure_stack: StackState) -> Iterator[Settings]:
    """Settings on the secure stack with this test's topics (created, deleted after) and Redis prefix."""
    run_dir, env = Path(secure_stack.run_dir), secure_stack.env()
    creds = secure.load(run_dir)
    kafka = KafkaSettings(
        bootstrap_servers=secure_stack.bootstrap_servers, security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_username=secure.KAFKA_USER, sasl_password=SecretStr(creds.kafka),
        ssl_cafile=Path(env["SEQSIGNAL_KAFKA__SSL_CAFILE"]), topic_prefix=f"s{uuid.uuid4().hex[:10]}.",
        partitions=2)
    red = RedisSettings(url=secure_stack.redis_url, username=secure.REDIS_USER,
                        password=SecretStr(creds.redis),
                        ssl_ca_certs=Path(env["SEQSIGNAL_REDIS__SSL_CA_CERTS"]),
                        key_prefix=f"sec:{uuid.uuid4().hex[:10]}:")
    settings = Settings(_env_file=None, kafka=kafka, redis=red, worker_id=f"sec-{uuid.uuid4().hex[:8]}",
                        web_port=process.free_port())
    with scratch_topics(kafka, partitions=2, client_id="seqsignal-secure-tests"):
        yield settings


def _child_env(stack: StackState, settings: Settings, registry_dir: Path, **extra: str) -> dict[str, str]:
    """worker_env plus the secure stack's SEQSIGNAL_* (passwords included) and `extra` on top."""
    secure_env = {k: v for k, v in stack.env().items()
                  if k not in ("SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS", "SEQSIGNAL_REDIS__URL")}
    return worker_env(settings, registry_dir, **{**secure_env, **extra})


def _passwords(stack: StackState) -> list[str]:
    creds = secure.load(Path(stack.run_dir))
    return [creds.kafka, creds.kafka_admin, creds.redis, WRONG]


def _assert_no_secret(text: str, secrets: list[str], where: str) -> None:
    """No secret in text, also where a terminal wrapped it over two lines (rich tracebacks do)."""
    joined = "".join(text.split())
    leaked = [f"password #{i}" for i, s in enumerate(secrets) if s in text or s in joined]
    assert not leaked, f"{', '.join(leaked)} found in {where}"


def _count(settings: Settings, topic: str, timeout_s: float, at_least: int) -> int:
    """Records in `topic`, read over SASL_SSL, once at least `at_least` arrived (or at the timeout)."""
    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None, consumer_timeout_ms=500,
                             **kafka_python_kwargs(settings.kafka))
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
        consumer.seek_to_beginning()
        n, deadline = 0, time.monotonic() + timeout_s
        while n < at_least and time.monotonic() < deadline:
            n += sum(len(v) for v in consumer.poll(timeout_ms=500, max_records=5000).values())
        return n
    finally:
        consumer.close()


def test_plaintext_and_anonymous_clients_are_refused(secure_stack: StackState) -> None:
    plain_redis = redis.Redis(host="127.0.0.1", port=secure_stack.redis_port, socket_timeout=3)
    with pytest.raises(redis.ConnectionError):  # TLS only: a plaintext PING gets no answer it can read
        plain_redis.ping()
    ca = secure.tls.files_in(secure.tls_dir(Path(secure_stack.run_dir))).ca
    anonymous = redis.Redis.from_url(secure_stack.redis_url, ssl_ca_certs=str(ca), socket_timeout=3)
    with pytest.raises(redis.AuthenticationError):  # the default user is off
        anonymous.ping()
    untrusted = redis.Redis.from_url(secure_stack.redis_url, socket_timeout=3,
                                     **secure.redis_client_kwargs(Path(secure_stack.run_dir)) | {
                                         "ssl_ca_certs": None})
    with pytest.raises(redis.ConnectionError):  # the stack's CA is not a system CA: verification fails
        untrusted.ping()
    good = redis.Redis.from_url(secure_stack.redis_url,
                                **secure.redis_client_kwargs(Path(secure_stack.run_dir)))
    assert good.ping() and good.acl_whoami() in ("seqsignal", b"seqsignal")
    for client in (plain_redis, anonymous, untrusted, good):
        client.close()
    from seqsignal.deploy.local import kafka as local_kafka

    assert not local_kafka.ready(secure_stack.bootstrap_servers, timeout_ms=3000)  # PLAINTEXT client
    assert local_kafka.ready(secure_stack.bootstrap_servers,
                             client_kwargs=secure.kafka_client_kwargs(Path(secure_stack.run_dir)))


@pytest.mark.slow
def test_worker_replay_and_trainer_on_the_secure_stack(secure_stack: StackState, secure_settings: Settings,
                                                       tmp_path: Path) -> None:
    reg, state_dir = tmp_path / "registry", tmp_path / "trainer"
    for task in ("behavior", "sentiment", "rumor"):
        tiny_model(reg, task)
    env = _child_env(secure_stack, secure_settings, reg, SEQSIGNAL_MODEL__RUMOR_STEP="0")
    topics = Topics(prefix=secure_settings.kafka.topic_prefix)
    worker = WorkerProcess(env, tmp_path / "worker.log", secure_settings.web_port).start()
    outputs: list[str] = []
    try:
        t0 = time.monotonic()
        worker.wait_ready(timeout_s=240)
        t_ready = time.monotonic() - t0
        for dataset, n in (("higgs", ACTIONS), ("tweeteval", POSTS)):
            r = run_cli(env, "replay", dataset, "--limit", str(n), timeout_s=300)
            outputs += [r.stdout, r.stderr]
            assert r.returncode == 0, r.stderr[-3000:]
            assert f"sent {n} events" in r.stdout
        behavior = _count(secure_settings, topics.behavior, 300, 1)
        sentiment = _count(secure_settings, topics.sentiment, 300, POSTS)
        assert behavior > 0 and sentiment == POSTS, (behavior, sentiment)
        store = redis.Redis.from_url(secure_stack.redis_url, **secure.redis_client_kwargs(
            Path(secure_stack.run_dir)))
        windows = sum(1 for _ in store.scan_iter(match=f"{secure_settings.redis.key_prefix}*", count=1000))
        store.close()
        assert windows > 0  # the worker wrote its windows through TLS as the ACL user
        t1 = time.monotonic()
        r = run_cli(env, "trainer", "--once", "--tasks", "behavior", "--steps", "30", "--state-dir",
                    str(state_dir), timeout_s=600)
        outputs += [r.stdout, r.stderr]
        assert r.returncode == 0, r.stderr[-3000:]
        [rec] = cycles(state_dir)
        assert rec["data"]["stream_actions"] == ACTIONS  # the trainer read the whole stream over SASL_SSL
        t_cycle, swapped = time.monotonic() - t1, "n/a"
        if rec["promoted"]:  # announced over SASL_SSL; the worker's aiokafka listener swaps it in
            while worker.metric("seqsignal_model_info", task="behavior", version=rec["version"]) != 1.0:
                assert time.monotonic() - t1 - t_cycle < 90, worker.tail()
                time.sleep(0.5)
            swapped = f"{time.monotonic() - t1 - t_cycle:.1f}s"
        print(f"\n[secure] worker ready {t_ready:.1f}s; outputs behavior={behavior} sentiment={sentiment}; "
              f"{windows} Redis keys; trainer cycle {t_cycle:.1f}s promoted={rec['promoted']}, "
              f"served by the worker after {swapped}")
        assert worker.terminate() == 0, worker.tail()
    finally:
        worker.stop_quietly()
    secrets = _passwords(secure_stack)
    _assert_no_secret("\n".join(outputs), secrets, "replay / trainer stdout or stderr")
    _assert_no_secret(worker.log_path.read_text(errors="replace"), secrets, "the worker log")
    for log in sorted((Path(secure_stack.run_dir) / "logs").glob("*")):
        _assert_no_secret(log.read_text(errors="replace"), secrets, f"the stack's {log.name}")


def _run_worker(env: dict[str, str], log: Path, timeout_s: float) -> tuple[int, str]:
    with log.open("wb") as out:
        proc = subprocess.run([str(SEQSIGNAL), "worker"], env=env, cwd=ROOT, stdout=out,
                              stderr=subprocess.STDOUT, timeout=timeout_s, check=False)
    return proc.returncode, log.read_text(errors="replace")


@pytest.mark.slow
def test_librdkafka_produces_over_sasl_ssl(secure_settings: Settings) -> None:
    """The bench's load generator (confluent-kafka) connects with the same settings as the other clients."""
    from confluent_kafka import Producer

    topic = Topics(secure_settings.kafka.topic_prefix).actions
    producer = Producer({**librdkafka_config(secure_settings.kafka), "acks": "all"})
    errors: list[object] = []
    for i in range(20):
        producer.produce(topic, b"{}", str(i).encode(), on_delivery=lambda err, _m: errors.append(err))
    assert producer.flush(30) == 0
    assert errors == [None] * 20
    assert _count(secure_settings, topic, 30.0, at_least=20) == 20


def test_wrong_kafka_password_fails_clearly(secure_stack: StackState, secure_settings: Settings,
                                            tmp_path: Path) -> None:
    reg = tmp_path / "registry"
    env = _child_env(secure_stack, secure_settings, reg, SEQSIGNAL_KAFKA__SASL_PASSWORD=WRONG)
    t0 = time.monotonic()
    replay = subprocess.Popen([str(SEQSIGNAL), "replay", "higgs", "--limit", "5"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rc, log = _run_worker(env, tmp_path / "worker.log", timeout_s=240)
    out, err = replay.communicate(timeout=240)
    print(f"\n[secure] wrong Kafka password: worker rc={rc}, replay rc={replay.returncode}, "
          f"both done after {time.monotonic() - t0:.1f}s")
    for what, code, text in (("worker", rc, log), ("replay", replay.returncode, out + err)):
        assert code != 0, f"{what} exited 0:\n{text[-2000:]}"
        flat = " ".join(text.split())  # rich wraps the error at the terminal width
        assert "SASL login failed" in flat and "SEQSIGNAL_KAFKA__SASL_PASSWORD" in flat, \
            f"{what}: no clear error:\n{text[-2000:]}"
        _assert_no_secret(text, _passwords(secure_stack), f"the {what}'s output")


@pytest.mark.slow
def test_wrong_redis_password_fails_clearly(secure_stack: StackState, secure_settings: Settings,
                                            tmp_path: Path) -> None:
    reg = tmp_path / "registry"
    for task in ("behavior", "sentiment", "rumor"):
        tiny_model(reg, task)
    env = _child_env(secure_stack, secure_settings, reg, SEQSIGNAL_REDIS__PASSWORD=WRONG)
    t0 = time.monotonic()
    rc, log = _run_worker(env, tmp_path / "worker.log", timeout_s=240)
    print(f"\n[secure] wrong Redis password: worker rc={rc} after {time.monotonic() - t0:.1f}s")
    assert rc != 0, log[-2000:]
    assert "Redis refused the credentials" in " ".join(log.split()), log[-2000:]
    _assert_no_secret(log, _passwords(secure_stack), "the worker's output")

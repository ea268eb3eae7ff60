#!/usr/bin/env bash
# Regenerates deploy/schemas/prometheus-operator/*.json (PrometheusRule, ServiceMonitor, PodMonitor) from the Go API types of a
# pinned prometheus-operator release, with controller-gen; both come from the Go module proxy. Run it by hand when
# moving to another release and commit the result; CI and the tests only read the vendored files.
# Needs: go, python3 with PyYAML.
set -euo pipefail
PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.95.1}"
CONTROLLER_TOOLS_VERSION="${CONTROLLER_TOOLS_VERSION:-v0.20.0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
go mod init leadnet.local/crdgen >/dev/null 2>&1
GOBIN="$WORK/bin" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION"
go get "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring@$PROMETHEUS_OPERATOR_VERSION"
printf 'package crdgen\n\nimport _ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"\n' >deps.go
go mod tidy
"$WORK/bin/controller-gen" crd:crdVersions=v1 \
  paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 output:crd:dir="$WORK/crds"
rm -f "$HERE"/prometheus-operator/*.json
python3 "$HERE/crd_to_jsonschema.py" "$HERE/prometheus-operator" \
  "$WORK/crds/monitoring.coreos.com_prometheusrules.yaml" "$WORK/crds/monitoring.coreos.com_servicemonitors.yaml" \
  "$WORK/crds/monitoring.coreos.com_podmonitors.yaml"
echo "$PROMETHEUS_OPERATOR_VERSION" >"$HERE/prometheus-operator/PROMETHEUS_OPERATOR_VERSION"

#!/usr/bin/env bash
# Installs the tools that check deploy/ and docker-compose.yml offline (tests/deploy): pinned versions, from the
# package registries only (Go module proxy, PyPI), into one directory that the tests look in.
#
#   kustomize        go install sigs.k8s.io/kustomize/kustomize/v5          -> $TOOLS/bin/kustomize
#   docker compose   built from the github.com/docker/compose/v5 Go module -> $TOOLS/bin/docker-compose, and linked
#                    as a docker CLI plugin when the docker CLI is present and has no compose of its own
#   checkov          PyPI, in its own venv (its pins would fight the services') -> $TOOLS/venv/bin/checkov
#   kubernetes-validate  PyPI, same venv: ships the Kubernetes JSON schemas, so validation needs no network
#
# The Strimzi CRD schemas are vendored under deploy/schemas/strimzi/ (see deploy/schemas/README.md).
# Idempotent: a tool whose stamp matches its pinned version is left alone, so a second run takes about a second.
# The tools live outside the work tree (default ~/.cache/leadnet/deploy-tools), so a fresh clone on the same
# machine (CI) finds them already built.
# Usage: scripts/install-deploy-tools.sh
#        LEADNET_DEPLOY_TOOLS=/opt/tools scripts/install-deploy-tools.sh      (the tests read the same variable)
set -euo pipefail

KUSTOMIZE_VERSION="v5.7.1"
COMPOSE_VERSION="v5.1.2"
CHECKOV_VERSION="3.3.30"
KUBERNETES_VALIDATE_VERSION="1.37.0"

TOOLS="${LEADNET_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/leadnet/deploy-tools}"
BIN="$TOOLS/bin"
STAMPS="$TOOLS/stamps"
mkdir -p "$BIN" "$STAMPS"

log() { printf 'install-deploy-tools: %s\n' "$*" >&2; }
current() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp() { printf '%s\n' "$2" >"$STAMPS/$1"; }

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    log "go is not installed: install it (Debian: apt-get install golang-go, >= 1.24) and run this again"
    exit 1
  fi
}

# --- kustomize ------------------------------------------------------------------------------------------------
if current kustomize "$KUSTOMIZE_VERSION" && [[ -x "$BIN/kustomize" ]]; then
  log "kustomize $KUSTOMIZE_VERSION present"
else
  need_go
  log "building kustomize $KUSTOMIZE_VERSION (go install, about a minute the first time)"
  GOBIN="$BIN" GOFLAGS=-buildvcs=false go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  stamp kustomize "$KUSTOMIZE_VERSION"
fi

# --- docker compose ---------------------------------------------------------------------------------------------
# `go install module/cmd@version` refuses compose (its go.mod has exclude directives), so build it inside the
# downloaded module, where its go.mod is the main module's and its directives apply.
if current compose "$COMPOSE_VERSION" && [[ -x "$BIN/docker-compose" ]]; then
  log "docker compose $COMPOSE_VERSION present"
else
  need_go
  log "building docker compose $COMPOSE_VERSION from the Go module (about two minutes the first time)"
  module_dir="$(go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  (cd "$module_dir" && GOFLAGS=-buildvcs=false CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" \
    -o "$BIN/docker-compose" ./cmd)
  stamp compose "$COMPOSE_VERSION"
fi
if command -v docker >/dev/null 2>&1; then
  plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  if ! docker compose version >/dev/null 2>&1 || [[ -L "$plugin_dir/docker-compose" ]]; then
    mkdir -p "$plugin_dir"
    ln -sfn "$BIN/docker-compose" "$plugin_dir/docker-compose"
  fi
fi

# --- checkov + kubernetes-validate (one venv) -------------------------------------------------------------------
PY_STAMP="checkov=$CHECKOV_VERSION kubernetes-validate=$KUBERNETES_VALIDATE_VERSION"
if current pytools "$PY_STAMP" && [[ -x "$TOOLS/venv/bin/checkov" ]]; then
  log "checkov $CHECKOV_VERSION and kubernetes-validate $KUBERNETES_VALIDATE_VERSION present"
else
  PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
  log "installing checkov $CHECKOV_VERSION and kubernetes-validate $KUBERNETES_VALIDATE_VERSION (PyPI)"
  [[ -x "$TOOLS/venv/bin/python" ]] || "$PYTHON" -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "checkov==$CHECKOV_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "jsonschema>=4.18" "pyyaml>=6"
  stamp pytools "$PY_STAMP"
fi

log "tools ready in $TOOLS"

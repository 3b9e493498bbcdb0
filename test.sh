#!/usr/bin/env bash
# The one command that runs every check of odoobus on a fresh machine:
# installs what is missing (Go tools, PostgreSQL 15, nginx, docker-compose),
# starts a throwaway PostgreSQL on 127.0.0.1 in a temporary directory (as the
# `postgres` user when run as root, since PostgreSQL refuses to run as root),
# then runs gofmt, go vet, staticcheck, the race-enabled test suite and a
# short run of every fuzz target.
#
#   ./test.sh                 the full lane (CI: .ci/run)
#   ./test.sh --fast          the fast lane: go test -short, no fuzz (below)
#   ./test.sh <go test args>  e.g. ./test.sh -run TestWS ./ws/
#
# The fast lane skips the tests that start their own PostgreSQL cluster or
# nginx, and runs the tests that wait out Odoo's 45 s / 90 s / 50 s timers
# with those timers divided by ten (fastLaneDiv in e2e_helpers_test.go).
set -euo pipefail
cd "$(dirname "$0")"

STATICCHECK_VERSION=v0.8.2
# A count, not a duration: with a duration Go 1.26's fuzz coordinator can
# report its own deadline as a failure ("context deadline exceeded", no
# failing input; golang/go#75804, fixed in Go 1.27), which a loaded CI
# machine hit twice in a row. 20,000 inputs take 1-8 s per target here.
FUZZTIME=${FUZZTIME:-20000x}

log() { printf '== %s\n' "$*" >&2; }

# apt_install installs Debian packages without letting them start their own
# services (PostgreSQL on 5432, nginx on 80): the tests run their own servers
# on loopback ports. Another apt-get or dpkg on the machine holds dpkg's lock
# while it installs: apt-get waits for it (bounded) instead of failing.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  local policy=/usr/sbin/policy-rc.d created=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
  fi
  local lock=(-o DPkg::Lock::Timeout=900)
  apt-get "${lock[@]}" update -qq
  apt-get "${lock[@]}" install -y -qq "$@" >/dev/null
  [ -z "$created" ] || rm -f "$policy"
}

# installed PKG: dpkg has PKG fully installed ("install ok installed"). A
# package another process is installing has its files before it is
# configured (/usr/sbin/nginx exists while nginx is "unpacked" or
# "half-configured"): only dpkg's status says it is done.
installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# ensure_packages PKG...: installs (or waits for another process to finish
# installing: apt-get takes dpkg's lock after it) every PKG not fully
# installed, then checks that dpkg says each one is.
ensure_packages() {
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} (apt-get)"
  apt_install "${missing[@]}"
  for p in "${missing[@]}"; do
    installed "$p" || { echo "test.sh: $p is not installed after apt-get: $(dpkg-query -W -f='${Status}' "$p" 2>&1)"; exit 1; }
  done
}

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  done
  return 1
}

# ensure_tools: PostgreSQL, nginx (the routing test runs
# deploy/nginx/odoo.conf) and docker-compose (validates docker-compose.yml
# without a container engine); on a machine without dpkg (a developer's),
# whatever is on PATH. Each tool is run once before the tests rely on it.
ensure_tools() {
  if command -v dpkg-query >/dev/null; then
    ensure_packages postgresql postgresql-contrib nginx docker-compose
  fi
  local bin; bin=$(pg_bindir) || { echo "test.sh: no PostgreSQL binaries (initdb, pg_ctl, postgres)"; exit 1; }
  "$bin/postgres" --version >/dev/null
  local nginx; nginx=$(command -v nginx || echo /usr/sbin/nginx)
  "$nginx" -v 2>/dev/null
  docker-compose version >/dev/null
}

# start_postgres starts the throwaway cluster on a free loopback port. Its
# data, socket and log are in its own temporary directory. The port is
# drawn below Linux's ephemeral range (32768-60999), so no outgoing
# connection holds it; one another process listens on (its own
# PostgreSQL) makes the start fail, and another port is tried (bounded).
start_postgres() {
  local bin; bin=$(pg_bindir)
  PGTMP=$(mktemp -d /tmp/odoobus-pg.XXXXXX)
  local run=()
  if [ "$(id -u)" = 0 ]; then
    # Debian's own postgres user, if a package creates it later, is the same.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /var/lib/postgresql postgres
    chown postgres "$PGTMP"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$bin/initdb" -D "$PGTMP/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PGTMP/initdb.log" 2>&1 \
    || { cat "$PGTMP/initdb.log"; exit 1; }
  local attempt
  for attempt in 1 2 3 4 5; do
    PGPORT_TEST=${ODOOBUS_TEST_PG_PORT:-$((20000 + RANDOM % 12000))}
    if "${run[@]}" "$bin/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w -t 120 start \
      -o "-p $PGPORT_TEST -k $PGTMP -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null; then
      break
    fi
    if [ -n "${ODOOBUS_TEST_PG_PORT:-}" ] || [ $attempt = 5 ] || ! grep -q "Address already in use" "$PGTMP/server.log"; then
      cat "$PGTMP/server.log"; exit 1
    fi
    log "port $PGPORT_TEST is taken, trying another"
  done
  PG_STOP=("${run[@]}" "$bin/pg_ctl" -D "$PGTMP/data" -m immediate stop)
  export ODOOBUS_TEST_PG="host=127.0.0.1 port=$PGPORT_TEST user=postgres sslmode=disable"
  export ODOOBUS_TEST_PGBIN="$bin"
  log "PostgreSQL on 127.0.0.1:$PGPORT_TEST ($PGTMP)"
}

stop_postgres() {
  if [ -n "${PGTMP:-}" ]; then
    "${PG_STOP[@]}" >/dev/null 2>&1 || true
    rm -rf "$PGTMP"
  fi
}
trap stop_postgres EXIT

FAST=""
if [ "${1:-}" = --fast ]; then
  FAST=1
  shift
fi

ensure_tools
start_postgres

if ! command -v staticcheck >/dev/null && [ ! -x "$(go env GOPATH)/bin/staticcheck" ]; then
  log "installing staticcheck $STATICCHECK_VERSION"
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
STATICCHECK=$(command -v staticcheck || echo "$(go env GOPATH)/bin/staticcheck")

log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
[ -z "$unformatted" ] || { echo "gofmt would change: $unformatted"; exit 1; }
log "go vet"
go vet ./...
log "staticcheck"
"$STATICCHECK" ./...

log "docker-compose config"
docker-compose -f docker-compose.yml config -q

if [ -n "$FAST" ]; then
  # Tests in a package run two at a time by default (GOMAXPROCS here): the
  # replays mostly sleep to the captured instants, so eight at a time.
  log "go test -race -short (fast lane)"
  go test -race -count=1 -short -parallel 8 -timeout 10m "$@" ./...
  log "fast lane passed (the full lane is ./test.sh)"
  exit 0
fi

log "go test -race"
if [ $# -gt 0 ]; then
  go test -race -count=1 "$@"
  exit 0
fi
go test -race -count=1 -timeout 20m ./...

log "fuzz (each target, -fuzztime $FUZZTIME)"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    # One retry, for a FUZZTIME given as a duration (see above); a real
    # failure is written to testdata/fuzz and fails the retry too.
    if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >"$PGTMP/fuzz.log" 2>&1; then
      log "fuzz $pkg $target failed once, retrying"; tail -5 "$PGTMP/fuzz.log" >&2
      go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" \
        || { echo "fuzz $pkg $target failed"; exit 1; }
    fi
  done
done
log "all checks passed"

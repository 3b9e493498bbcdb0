#!/usr/bin/env bash
# The one command that runs every check of odoobus on a fresh machine:
# installs what is missing (Go tools, PostgreSQL 15), starts a throwaway
# PostgreSQL on 127.0.0.1 in a temporary directory (as the `postgres` user when
# run as root, since PostgreSQL refuses to run as root), then runs gofmt, go vet,
# staticcheck, the race-enabled test suite and a short run of every fuzz target.
# Extra arguments go to `go test` (e.g. ./test.sh -run TestWS ./ws/).
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
# on loopback ports.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  local policy=/usr/sbin/policy-rc.d created=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
  fi
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
  [ -z "$created" ] || rm -f "$policy"
}

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

ensure_postgres() {
  if ! pg_bindir >/dev/null; then
    log "installing PostgreSQL (apt-get)"
    apt_install postgresql postgresql-contrib
  fi
}

# nginx (the routing test runs deploy/nginx/odoo.conf) and docker-compose
# (validates docker-compose.yml without a container engine).
ensure_deploy_tools() {
  local missing=()
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt-get)"
    apt_install "${missing[@]}"
  fi
}

start_postgres() {
  local bin; bin=$(pg_bindir)
  PGTMP=$(mktemp -d /tmp/odoobus-pg.XXXXXX)
  PGPORT_TEST=${ODOOBUS_TEST_PG_PORT:-$((20000 + RANDOM % 20000))}
  local run=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$PGTMP" postgres
    chown postgres "$PGTMP"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$bin/initdb" -D "$PGTMP/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PGTMP/initdb.log" 2>&1 \
    || { cat "$PGTMP/initdb.log"; exit 1; }
  "${run[@]}" "$bin/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w -t 60 start \
    -o "-p $PGPORT_TEST -k $PGTMP -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null \
    || { cat "$PGTMP/server.log"; exit 1; }
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

ensure_postgres
ensure_deploy_tools
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

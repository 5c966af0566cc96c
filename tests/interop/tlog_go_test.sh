#!/usr/bin/env bash
# tlog_go_test.sh - keygate's decision log formats checked by an independent implementation:
# Go's golang.org/x/mod/sumdb/note and sumdb/tlog from Debian (golang-go, golang-golang-x-mod-dev;
# scripts/setup installs them). kg-tlog-gen writes a log of 1000 decisions (full and partial
# tiles on two levels), its signed checkpoint and lib/log's proofs; tlog_go/verify.go checks
# them. Exit 77 (skipped) when go or the module is missing.
set -euo pipefail
BUILD="$(cd "${1:?usage: tlog_go_test.sh BUILD_DIR}" && pwd)"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v go >/dev/null || { echo "SKIP: go is not installed (scripts/setup)"; exit 77; }
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] || { echo "SKIP: golang-golang-x-mod-dev is not installed"; exit 77; }
GEN="$BUILD/tests/kg-tlog-gen"
[ -x "$GEN" ] || { echo "SKIP: kg-tlog-gen not built"; exit 77; }
DIR="$(mktemp -d /tmp/kg-tlog-go.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
"$GEN" "$DIR" 1000
export GOCACHE="$DIR/gocache" GO111MODULE=off GOPATH=/usr/share/gocode
go run "$HERE/tlog_go/verify.go" "$DIR"
echo "tlog_go_test: ok"

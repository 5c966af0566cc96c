#!/usr/bin/env bash
# containerfile_test.sh - packaging/Containerfile without a container engine (none may run here):
#  1. its build step runs the Makefile's targets, and `make -n` with its arguments expands to
#     the cmake commands a host build uses (programs only, commit passed, install to /out/usr);
#  2. the build context it copies (its COPY lines, nothing else) configures with CMake and
#     defines the three programs; the commit is "unknown" there unless passed;
#  3. the build stage installs a -dev package for every library CMakeLists.txt requires;
#  4. the runtime stage installs the Debian package of every shared library the three built
#     programs link (objdump NEEDED -> dpkg -S), so the image's programs can start.
# KG_CONTAINERFILE_FULL=1 also runs the build step itself in the copied context (minutes).
# Usage: containerfile_test.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "${1:?usage: containerfile_test.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CF="$SRC/packaging/Containerfile"
TMP="$(mktemp -d /tmp/kg-containerfile.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; exit 1; }

# Instructions with their continuation lines joined; comments dropped.
sed -e '/^[[:space:]]*#/d' "$CF" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | tr -s ' ' >"$TMP/cf"
stage() { awk -v n="$1" '/^FROM /{s++} s==n' "$TMP/cf"; } # stage N (1-based)
[ "$(grep -c '^FROM ' "$TMP/cf")" = 2 ] || die "not a two-stage recipe"
grep -q '^FROM debian:bookworm AS build$' "$TMP/cf" && grep -q '^FROM debian:bookworm-slim$' "$TMP/cf" ||
  die "stages are not debian:bookworm (build) and debian:bookworm-slim"

# ---- 1. the build step is the Makefile's ----------------------------------------------------
run="$(stage 1 | grep '^RUN make build ')" || die "no 'RUN make build' in the build stage"
mk_build="$(sed -n 's/^RUN \(make build .*\) && make install .*/\1/p' <<<"$run")"
mk_install="$(sed -n 's/.* && \(make install [^&]*\) && .*/\1/p' <<<"$run")"
[ -n "$mk_build" ] && [ -n "$mk_install" ] || die "build step is not 'make build ... && make install ...': $run"
# Evaluate the make arguments as the shell in the container would (KG_GIT_COMMIT from ARG).
KG_GIT_COMMIT=0123456789ab
eval "set -- ${mk_build#make build }"
dry="$(make -s -n -C "$SRC" build "$@")"
grep -qxF "cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKG_GIT_COMMIT=$KG_GIT_COMMIT" <<<"$dry" ||
  die "make build in the recipe does not configure like the Makefile with the commit: $dry"
grep -qE "^cmake --build /build -j [0-9]+ --target keygate-cli keygate-kms keygate-agent$" <<<"$dry" ||
  die "make build in the recipe does not build the three programs: $dry"
eval "set -- ${mk_install#make install }"
dry="$(make -s -n -C "$SRC" install "$@")"
grep -qxF 'DESTDIR="/out" cmake --install /build --prefix "/usr"' <<<"$dry" ||
  die "make install in the recipe is not cmake --install --prefix /usr to /out: $dry"
stage 2 | grep -qx 'COPY --from=build /out/ /' || die "runtime stage does not copy the installed tree /out"
ok "build step: make build (3 programs, -DKG_GIT_COMMIT) and make install PREFIX=/usr DESTDIR=/out, as the Makefile expands them"

# ---- 2. the copied context configures -------------------------------------------------------
CTX="$TMP/ctx"
mkdir -p "$CTX"
while read -r _ args; do
  # COPY src... dest (relative to /src); only plain context copies
  read -ra parts <<<"$args"
  n=${#parts[@]}
  for ((i = 0; i < n - 1; i++)); do
    s="${parts[$i]%/}"
    [ -e "$SRC/$s" ] || die "COPY source '$s' does not exist in the repository"
    if [ -d "$SRC/$s" ]; then mkdir -p "$CTX/$s" && cp -a "$SRC/$s/." "$CTX/$s/"; else cp -a "$SRC/$s" "$CTX/$s"; fi
  done
done < <(stage 1 | grep '^COPY ' | grep -v -- '--from=')
# Configured as the build step does, without the commit argument: no .git, so "unknown".
cmake -S "$CTX" -B "$TMP/ctx-build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$TMP/configure.log" 2>&1 ||
  die "the recipe's context does not configure: $(tail -20 "$TMP/configure.log")"
targets="$(cmake --build "$TMP/ctx-build" --target help)"
for t in keygate-cli keygate-kms keygate-agent; do grep -q "$t" <<<"$targets" || die "context lacks target $t"; done
grep -qx '#define KG_GIT_COMMIT "unknown"' "$TMP/ctx-build/generated/keygate/version.h" ||
  die "a context without .git does not say 'unknown'"
ok "the copied context (COPY lines only) configures and defines the three programs; commit 'unknown' without .git"

if [ "${KG_CONTAINERFILE_FULL:-0}" = 1 ]; then
  (cd "$CTX" && make build BUILD="$TMP/b" TARGETS="keygate-cli keygate-kms keygate-agent" \
     CMAKE_ARGS="-DKG_GIT_COMMIT=$KG_GIT_COMMIT" >/dev/null &&
   make install BUILD="$TMP/b" PREFIX=/usr DESTDIR="$TMP/out" >/dev/null) || die "full build of the context"
  "$TMP/out/usr/bin/keygate" --version | grep -qx "keygate .* (commit $KG_GIT_COMMIT)" || die "full build: --version"
  ok "KG_CONTAINERFILE_FULL: the build step builds and installs in the copied context"
fi

# ---- 3 and 4. packages ----------------------------------------------------------------------
command -v dpkg >/dev/null 2>&1 && command -v objdump >/dev/null 2>&1 || {
  echo "# no dpkg/objdump: package lists not checked"; echo "1..$PASS"; exit 0; }
apt_list() { stage "$1" | grep -o 'apt-get install [^&]*' | tr ' ' '\n' | grep -v -e '^-' -e '^apt-get$' -e '^install$' -e '^$' | sort -u; }
apt_list 1 >"$TMP/build-pkgs"
apt_list 2 >"$TMP/run-pkgs"
pkgof() { { dpkg -S "$1" 2>/dev/null || true; } | sed -n "1s/:.*//p"; }
missing=()
for mod in $(sed -n 's/^pkg_check_modules([A-Z0-9_]* REQUIRED IMPORTED_TARGET \(.*\))$/\1/p' "$SRC/CMakeLists.txt") openssl; do
  pc="$(pkg-config --variable=pcfiledir "$mod" 2>/dev/null)/$mod.pc"
  p="$(pkgof "$(readlink -f "$pc")")"
  [ -n "$p" ] || p="$(pkgof "$pc")"
  [ -n "$p" ] || die "no Debian package owns $pc"
  grep -qx "$p" "$TMP/build-pkgs" || missing+=("$p ($mod)")
done
[ ${#missing[@]} = 0 ] || die "build stage lacks: ${missing[*]}"
ok "build stage installs the -dev package of every library CMakeLists.txt requires"
missing=()
for bin in keygate keygate-kms keygate-agent; do
  for so in $(objdump -p "$BUILD/bin/$bin" | awk '$1 == "NEEDED" {print $2}'); do
    path="$(ldconfig -p | awk -v s="$so" '$1 == s && /x86-64|x86_64|aarch64|AArch64/ && !f {print $NF; f = 1}')"
    [ -n "$path" ] || die "$bin needs $so, not found by ldconfig"
    p="$(pkgof "$(readlink -f "$path")")"
    [ -n "$p" ] || p="$(pkgof "$path")"
    [ -n "$p" ] || die "no Debian package owns $path ($so)"
    [ "$p" = libc6 ] && continue # in every Debian image
    grep -qx "$p" "$TMP/run-pkgs" || missing+=("$p ($bin: $so)")
  done
done
[ ${#missing[@]} = 0 ] || die "runtime stage lacks: $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
ok "runtime stage installs the package of every shared library the three programs link"
echo "1..$PASS"

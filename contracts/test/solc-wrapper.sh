#!/usr/bin/env bash
# solc-wrapper.sh - checks tools/solc answers like native solc: version banner, standard JSON in/out, import callback, usage errors.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SOLC="$ROOT/tools/solc"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. --version: exactly two lines in native solc's format, version taken from the pinned solcjs.
want_version="$(node -e 'process.stdout.write(require(process.argv[1]).version())' "$ROOT/tools/node_modules/solc")"
want_version="${want_version%.Emscripten.clang}.Linux.g++"
got="$("$SOLC" --version)"
[ "$got" = "solc, the solidity compiler commandline interface
Version: $want_version" ] || fail "--version printed: $got"
case "$want_version" in 0.8.28+commit.*.Linux.g++) ;; *) fail "unexpected pinned version $want_version" ;; esac

# 2. --standard-json with forge's path flags: stdout is only the JSON, and an import that is not
#    inlined is read relative to --base-path.
mkdir -p "$WORK/lib"
printf '// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\nlibrary L { function one() internal pure returns (uint256) { return 1; } }\n' \
  >"$WORK/lib/L.sol"
cat >"$WORK/input.json" <<'JSON'
{"language":"Solidity",
 "sources":{"A.sol":{"content":"// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\nimport {L} from \"lib/L.sol\";\ncontract A { function f() external pure returns (uint256) { return L.one(); } }"}},
 "settings":{"outputSelection":{"*":{"*":["abi","evm.bytecode.object"]}}}}
JSON
"$SOLC" --standard-json --allow-paths "$WORK,/nonexistent" --base-path "$WORK" --include-path "$WORK/lib" \
  <"$WORK/input.json" >"$WORK/out.json"
node -e '
  const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const errs = (o.errors || []).filter((e) => e.severity === "error");
  if (errs.length) { console.error(errs.map((e) => e.formattedMessage).join("\n")); process.exit(1); }
  if (!o.contracts["A.sol"].A.evm.bytecode.object) { console.error("no bytecode"); process.exit(1); }
  if (!o.sources["lib/L.sol"]) { console.error("import not resolved"); process.exit(1); }' "$WORK/out.json" ||
  fail "standard JSON compile"

# 3. A missing import is reported in the JSON errors, not by crashing.
sed 's#lib/L.sol#lib/Missing.sol#' "$WORK/input.json" | "$SOLC" --standard-json --base-path "$WORK" >"$WORK/missing.json"
grep -q 'File not found' "$WORK/missing.json" || fail "missing import not reported"

# 4. Anything else is a usage error (exit 2), with nothing on stdout.
set +e
out="$("$SOLC" --bin "$WORK/lib/L.sol" 2>/dev/null)"
rc=$?
set -e
[ "$rc" -eq 2 ] && [ -z "$out" ] || fail "unsupported mode: rc=$rc out=$out"

echo "PASS: tools/solc"

#!/usr/bin/env bash
# Our critical path (trace-report --json) against Jaeger UI's own code on
# generated traces (issue 17). Jaeger's TypeScript files are transpiled from
# a jaeger-ui checkout with the `typescript` npm package and run with node;
# nothing of them is kept in this repository. Every trace where the two
# differ is listed by the documented differences it contains (back-to-back
# siblings, ties, several roots) or as "unexplained".
#
#   scripts/compare_critical_path_with_jaeger.sh ~/src/jaeger-ui [SEED] [PLAIN]
#
# PLAIN=1 generates no deliberate back-to-back siblings or ties.
set -euo pipefail
jaeger=${1:?usage: $0 JAEGER_UI_CHECKOUT [SEED] [PLAIN]}
seed=${2:-17}
plain=${3:-0}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
command -v node >/dev/null || { echo "node is needed" >&2; exit 1; }
cargo build --quiet -p trace-analysis --bin trace-report
report=$(realpath "${CARGO_TARGET_DIR:-target}/debug/trace-report")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here"/jaeger_critical_path/*.{py,js} "$work"
cd "$work"
cp=packages/jaeger-ui/src/components/TracePage/CriticalPath
mkdir -p src/components/TracePage/CriticalPath/utils src/types
for f in index.ts utils/cpspan.ts utils/findLastFinishingChildSpan.ts utils/sanitizeOverFlowingChildren.ts; do
  cp "$jaeger/$cp/$f" "src/components/TracePage/CriticalPath/$f"
done
npm install --silent --no-save --prefix "$work" typescript@5 >/dev/null
# Stand-ins for the two modules the code imports at run time (after npm,
# which would remove the first as extraneous).
mkdir -p node_modules/memoize-one
echo 'module.exports = (f) => f; module.exports.default = module.exports;' >node_modules/memoize-one/index.js
echo 'exports.SpanKind = { INTERNAL: "INTERNAL", SERVER: "SERVER", CLIENT: "CLIENT", PRODUCER: "PRODUCER", CONSUMER: "CONSUMER" };' >src/types/otel.js
node -e '
const ts = require("typescript"), fs = require("fs");
for (const f of process.argv.slice(1)) {
  const js = ts.transpileModule(fs.readFileSync(f, "utf8"), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020, esModuleInterop: true } });
  fs.writeFileSync(f.replace(/\.ts$/, ".js"), js.outputText);
}' src/components/TracePage/CriticalPath/{index,utils/cpspan,utils/findLastFinishingChildSpan,utils/sanitizeOverFlowingChildren}.ts
python3 generate.py "$seed" "$plain"
node jaeger.js >jaeger_out.json
"$report" --json traces.jsonl >ours.json 2>/dev/null
echo "jaeger-ui $(git -C "$jaeger" log -1 --format='%h %cs' 2>/dev/null || echo '(not a git checkout)'), seed $seed, plain $plain"
python3 compare.py

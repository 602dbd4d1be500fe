#!/usr/bin/env bash
# Mutation run over the deciders (services/*/domain/), with only the fast unit tests of those
# services. mutmut names a mutant after its file path, and the services import as `candidatures`,
# `programmes`… (pyproject maps the package root to services/), so the run happens in a copy laid
# out flat: var/mutation/{candidatures,programmes,tests}.
# Usage: tests/mutation/run.sh [mutmut run args]   then   (cd var/mutation && ../../.venv/bin/mutmut results)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work="$root/var/mutation"
rm -rf "$work"
mkdir -p "$work"
for pkg in candidatures programmes; do
  cp -r "$root/services/$pkg" "$work/$pkg"
done
cp -r "$root/tests" "$work/tests"
cp "$root/tests/mutation/pyproject.toml" "$work/pyproject.toml"
find "$work" -name __pycache__ -prune -exec rm -rf {} +
cd "$work"
exec "$root/.venv/bin/mutmut" run "$@"

#!/usr/bin/env bash
# Strict mypy over the package as it installs: treediff (src/treediff), treediff.engine (engine/) and
# treediff.plugins (plugins/). The editable install maps engine/ and plugins/ through an import hook that
# mypy cannot follow (every treediff import would read as Any), so mypy checks a temporary link tree laid
# out like the installed package. Extra arguments go to mypy; MYPY names another mypy executable.
#   bash scripts/typecheck.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mypy=${MYPY:-$root/.venv/bin/mypy}
[ -x "$mypy" ] || command -v "$mypy" >/dev/null || { echo "error: mypy not found at $mypy; run bash scripts/test.sh once (it installs the dev extras) or set MYPY" >&2; exit 2; }
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/treediff"
for f in src/treediff/*; do ln -s "$root/$f" "$tree/treediff/"; done
ln -s "$root/engine" "$tree/treediff/engine"
ln -s "$root/plugins" "$tree/treediff/plugins"
cd "$tree"
exec "$mypy" --config-file "$root/pyproject.toml" --cache-dir "$root/.mypy_cache" -p treediff "$@"

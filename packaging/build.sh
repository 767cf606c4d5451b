#!/usr/bin/env bash
# Build the one-folder desktop bundle of heartops for this platform (Linux x86-64 here) into
# dist/heartops/, then smoke-test it (packaging/smoke.sh). Called by `./run package`, which has
# bootstrapped uv into .tools/ first. About three minutes; see packaging/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

uv=.tools/bin/uv
venv=.tools/package-venv
work=build/package
python_bin="${HEARTOPS_PYTHON:-python3.11}"
say() { printf '[package] %s\n' "$*" >&2; }

export UV_PYTHON_DOWNLOADS=never
[ -x "$venv/bin/python" ] || "$uv" venv -q --python "$python_bin" "$venv"
say "installing the locked bundle environment (packaging/requirements.lock)"
"$uv" pip sync -q --python "$venv/bin/python" --require-hashes --compile-bytecode \
  packaging/requirements.lock
"$uv" pip install -q --python "$venv/bin/python" --no-deps --reinstall-package heartops .

say "building the demo city to ship inside the bundle"
rm -rf "$work/seed"
mkdir -p "$work/seed/seed/cache" "$work/seed/seed/data"
HEARTOPS_CACHE_DIR="$work/seed/seed/cache" HEARTOPS_DATA_DIR="$work/seed/seed/data" \
  "$venv/bin/python" -c "from heartops.history import ensure_demo_history; ensure_demo_history()"

say "running PyInstaller"
rm -rf dist/heartops
HEARTOPS_SEED="$PWD/$work/seed" "$venv/bin/pyinstaller" --noconfirm --log-level WARN \
  --distpath dist --workpath "$work/pyinstaller" packaging/heartops.spec
cp packaging/heartops.desktop heartops/resources/icons/heartops.svg dist/heartops/
say "bundle: dist/heartops ($(du -sh dist/heartops | cut -f1))"

bash packaging/smoke.sh dist/heartops "$venv/bin/python"

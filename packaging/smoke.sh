#!/usr/bin/env bash
# Smoke-test a built bundle the way a locked-down desk runs it: no Python on PATH, no
# PYTHONPATH, no network needed, a fresh home (so the demo city comes from the bundle's seed).
# Usage: packaging/smoke.sh BUNDLE_DIR CHECKER_PYTHON
#   CHECKER_PYTHON (any Python with PySide6) only inspects the screenshot afterwards.
set -euo pipefail
bundle="$(cd "$1" && pwd)"
checker="$2"
home="$(mktemp -d /tmp/heartops-desk.XXXXXX)"
trap 'rm -rf "$home"' EXIT
shot="$home/smoke.png"

started=$(date +%s.%N)
set +e
env -i HOME="$home" PATH=/usr/bin:/bin LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
  "$bundle/heartops" demo --offscreen --duration 3 --screenshot "$shot" 2>"$home/stderr.log"
code=$?
set -e
finished=$(date +%s.%N)
if [ "$code" -ne 0 ]; then
  cat "$home/stderr.log" >&2
  echo "[smoke] FAILED: the bundled app exited with $code" >&2
  exit 1
fi
"$checker" - "$shot" <<'PY'
import sys

from PySide6 import QtGui

image = QtGui.QImage(sys.argv[1])
if image.isNull():
    sys.exit(f"[smoke] FAILED: no screenshot at {sys.argv[1]}")
colours = {image.pixel(x, y) for x in range(0, image.width(), 7)
           for y in range(0, image.height(), 7)}
if len(colours) < 50:
    sys.exit(f"[smoke] FAILED: the screenshot is blank ({len(colours)} colours)")
print(f"[smoke] screenshot {image.width()}x{image.height()}, {len(colours)} colours sampled",
      file=sys.stderr)
PY
grep -h "first map painted" "$home/stderr.log" | sed 's/^/[smoke] /' >&2 || true
awk -v size="$(du -sh "$bundle" | cut -f1)" -v s="$started" -v f="$finished" 'BEGIN {
  printf "[smoke] ok: bundle %s, whole run %.1f s (3 s of it the requested duration)\n", size, f - s
}' >&2

#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs a live simulated field day through
# the real programs — one scentrack-collar per animal (6 rats, 2 dogs, second-animal passes; reference
# scenario analysis/scenarios/reference.ini), a shared radio channel, scentrack-gateway on a pty and
# scentrack-core with its SQLite store and the live web map on http://127.0.0.1:8080 (SCENTRACK_DEMO_WEB to
# change it) — with every file under one data directory. It prints where to look.
# Ctrl-C stops everything cleanly; running it again resumes the day with the data kept.
#
#   bash .ci/demo.sh           live: one second of field day per second (the day is ~7 h)
#   bash .ci/demo.sh --fast    the whole day in simulated time, then a summary
#   SCENTRACK_DEMO_DIR=DIR     data directory (default build/demo/field-day-SEED; delete it to start over)
#   SCENTRACK_DEMO_SEED=N      another day (a new directory per seed)
#   SCENTRACK_DEMO_WEB=H:P     where the core serves the web map (default 127.0.0.1:8080, loopback only)
set -euo pipefail
cd "$(dirname "$0")/.."
fast=()
for a in "$@"; do
  case "$a" in
    --fast) fast=(--fast) ;;
    -h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument '$a' (try --help)" >&2; exit 64 ;;
  esac
done
bash .ci/install-deps.sh
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/demo -j"$(nproc)"
seed=${SCENTRACK_DEMO_SEED:-1}
data=${SCENTRACK_DEMO_DIR:-$PWD/build/demo/field-day-$seed}
scenario=analysis/scenarios/reference.ini
if [ ${#fast[@]} -eq 0 ]; then
  # Live: the day is dated today and starts now, so the map shows the animals as live (a day dated in the
  # past would show every collar as "link lost"). Pinned on the first run, so a resumed day stays the same day.
  mkdir -p "$data"
  if [ ! -f "$data/scenario.ini" ]; then
    # the first collar powers on 300 s before start_utc, and the run begins 1 s before that
    start=$(( $(date -u +%s) + 301 ))
    sed -e "s/^date = .*/date = $(date -u -d "@$start" +%F)/" \
        -e "s/^start_utc = [0-9:]*/start_utc = $(date -u -d "@$start" +%H:%M:%S)/" "$scenario" > "$data/scenario.ini"
  fi
  scenario=$data/scenario.ini
fi
cat <<MSG

== The field day: $data
   (the scenario: $scenario; the ground truth of the day:
    build/demo/analysis/scentrack sim $scenario --seed $seed --out DIR)
MSG
# exec: Ctrl-C reaches scentrack sim, which stops the collars, the gateway and the core in order
exec build/demo/analysis/scentrack sim "$scenario" --seed "$seed" --run "${fast[@]}" \
  --data "$data" --web "${SCENTRACK_DEMO_WEB:-127.0.0.1:8080}"

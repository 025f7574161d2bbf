#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and shows the field demo as far as it runs.
# The live demo (simulated collars → radio → gateway → core → web map on http://127.0.0.1:8080) lands with
# the simulator's end-to-end issue; until then this generates a simulated field day and runs the parts that
# already work on it, each with the command to run it yourself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/demo -j"$(nproc)"
bin=build/demo
data=${SCENTRACK_DEMO_DIR:-build/demo/field-day}
mkdir -p "$data"

step() { printf '\n== %s\n   $ %s\n' "$1" "$2"; }

step "A simulated field day (6 rats, 2 dogs, second-animal passes; ground truth kept aside)" \
     "$bin/analysis/scentrack sim analysis/scenarios/reference.ini --seed 1 --out $data"
"$bin/analysis/scentrack" sim analysis/scenarios/reference.ini --seed 1 --out "$data" | sed 's/^/   /'

nmea=$(find "$data" -name 'collar_*.nmea' | sort | head -1)
if [ -n "$nmea" ]; then
  step "The collar's NMEA parser on one simulated collar (first 2 fixes of $(wc -l < "$nmea") lines)" \
       "$bin/collar-fw/scentrack-collar --decode $nmea"
  # (head closes the pipe early: that is not a failure)
  "$bin/collar-fw/scentrack-collar" --decode "$nmea" 2>/dev/null | head -2 | sed 's/^/   /' || true
fi

if [ -f "$data/indications.csv" ]; then
  step "Indications clustered into suspected hazard points (1 m, two indications)" \
       "$bin/analysis/scentrack cluster --eps-mm 1000 --min-pts 2 <id,lat,lon of the indications>"
  python3 - "$data/indications.csv" > "$data/ind-latlon.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
lat = next(k for k in rows[0] if k.startswith('lat')) if rows else 'lat'
lon = next(k for k in rows[0] if k.startswith('lon')) if rows else 'lon'
print('id,lat,lon')
for i, r in enumerate(rows, 1):
    print(f"{i},{r[lat]},{r[lon]}")
PY
  "$bin/analysis/scentrack" cluster --eps-mm 1000 --min-pts 2 "$data/ind-latlon.csv" \
    | awk -F, 'NR>0 && $2 != -1 {c[$2]++} END {n=0; for (k in c) n++; printf "   %d hazard clusters from the indications\n", n}'
fi

cat <<MSG

What else runs today (each has --help):
   $bin/gateway/scentrack-gateway -f gateway/scentrack-gateway.ini.sample -N    the field gateway
   $bin/analysis/scentrack-core -f analysis/scentrack-core.ini.sample -N   the correlation core
   $bin/analysis/scentrack export|report|import ...                              GIS exports and reports
Run every test with: bash .ci/test.sh   (docs/testing.md explains what judges what)
MSG

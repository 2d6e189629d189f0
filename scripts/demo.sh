#!/usr/bin/env bash
# The README demo: compose an offline domain join blob without a DC, build the example package
# from customizations/ with it (plus a root certificate, a registry policy and a Policy CSP
# setting), then inspect the result. Everything stays in demo-out/.
set -euo pipefail
VENV=${1:-.venv}
PPKG="$VENV/bin/ppkgtool"
PY="$VENV/bin/python"
OUT=demo-out
rm -rf "$OUT"; mkdir -p "$OUT"
echo "== ppkgtool demo (output in $OUT/) =="
"$PPKG" --version

echo; echo "== 1. compose an ODJ blob offline (no DC contacted) =="
"$PPKG" odj compose --facts customizations/domain-facts.json --machine BRANCH01 --rid 1105 \
    --generate-password --savefile "$OUT/BRANCH01.txt"

echo; echo "== 2. a root certificate and a machine Registry.pol to deliver with it =="
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$OUT/corp-root.key" -out "$OUT/corp-root.pem" \
    -subj "/CN=Example Corp Root CA" -days 365 2>/dev/null
"$PY" - "$OUT/Registry.pol" <<'PYEOF'
import sys
from ppkgtool.regpol import PolicyValue, build_registry_pol
values = [PolicyValue.dword(r"Software\Policies\Microsoft\Windows\WindowsUpdate\AU", "NoAutoRebootWithLoggedOnUsers", 1),
          PolicyValue.string(r"Software\Policies\Example\Branch", "Region", "EMEA")]
open(sys.argv[1], "wb").write(build_registry_pol(values))
print(f"{sys.argv[1]}: {len(values)} values")
PYEOF

echo; echo "== 3. build the package (customizations/customizations.xml + payloads) =="
"$PPKG" build customizations/customizations.xml -o "$OUT/branch01.ppkg" --var SITE=Berlin \
    --odj "$OUT/BRANCH01.txt" --root-cert "$OUT/corp-root.pem" --policy "$OUT/Registry.pol" \
    --policy-setting Update/AllowAutoUpdate=3 --reproducible
ls -l "$OUT"
file "$OUT/branch01.ppkg" || true

echo; echo "== 4. inspect it (secrets redacted) =="
"$PPKG" inspect "$OUT/branch01.ppkg"
echo; echo "== 5. the catalog written beside it lists the package's hashes =="
sha256sum "$OUT/branch01.ppkg"
openssl asn1parse -inform DER -in "$OUT/branch01.cat" | grep -i "HEX DUMP" | tail -2

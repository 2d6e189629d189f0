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
"$PY" - "$OUT/corp-root.pem" <<'PYEOF'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Example Corp Root CA")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
open(sys.argv[1], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
print(f"{sys.argv[1]}: {cert.subject.rfc4514_string()}")
PYEOF
printf '%s\n' 'Software\Policies\Microsoft\Windows\WindowsUpdate\AU;NoAutoRebootWithLoggedOnUsers;REG_DWORD;1' \
    'Software\Policies\Example\Branch;Region;REG_SZ;EMEA' > "$OUT/policies.txt"
"$PPKG" policy write "$OUT/policies.txt" -o "$OUT/Registry.pol"

echo; echo "== 3. build the package (customizations/customizations.xml + payloads) =="
"$PPKG" build customizations/customizations.xml -o "$OUT/branch01.ppkg" --var SITE=Berlin \
    --odj "$OUT/BRANCH01.txt" --root-cert "$OUT/corp-root.pem" --policy "$OUT/Registry.pol" \
    --policy-setting Update/AllowAutoUpdate=3 --reproducible
ls -l "$OUT"
if command -v file >/dev/null; then file "$OUT/branch01.ppkg"; fi

echo; echo "== 4. inspect it (secrets redacted) =="
"$PPKG" inspect "$OUT/branch01.ppkg"
echo; echo "== 5. the catalog written beside it lists the package's SHA-1 and SHA-256 =="
"$PY" - "$OUT/branch01.ppkg" "$OUT/branch01.cat" <<'PYEOF'
import hashlib, sys
from ppkgtool.security.catalog import parse_catalog
data = open(sys.argv[1], "rb").read()
members = {m.tag for m in parse_catalog(open(sys.argv[2], "rb").read()).members}
for algo in ("sha1", "sha256"):
    digest = hashlib.new(algo, data).digest()
    print(f"{algo:6} {digest.hex()}  {'listed in the catalog' if digest in members else 'MISSING'}")
PYEOF

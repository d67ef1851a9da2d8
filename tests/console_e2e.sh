#!/usr/bin/env bash
# The moderation console end to end in a real browser (Debian's chromium,
# driven by playwright-core from web/node_modules): a real `safeguard serve`
# on loopback with a fresh data directory, a case made by scanning a benign
# photo listed in a stand-in "csam" bank, then web/e2e/console.e2e.mjs signs
# in, works the case and signs out. Afterwards the audit log must hold the
# unblur and the action, by the signed-in user.
# Usage: console_e2e.sh SAFEGUARD_BIN WEB_DIR CONSOLE_DIR SHARED_DIR OUT_DIR
set -euo pipefail
BIN=$1 WEB=$2 CONSOLE=$3 SHARED=$4 OUT=$5
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "console_e2e: $CHROMIUM is missing (scripts/install-deps installs Debian's chromium)" >&2; exit 1; }
[ -f "$CONSOLE/index.html" ] || { echo "console_e2e: the console is not built in $CONSOLE" >&2; exit 1; }
[ -f "$WEB/node_modules/playwright-core/package.json" ] || { echo "console_e2e: run npm ci in $WEB" >&2; exit 1; }
DATA=$(mktemp -d /tmp/safeguard-e2e-XXXXXX)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$DATA"
}
trap cleanup EXIT
mkdir -p "$OUT"
PHOTO="$SHARED/media/photos/python3-sklearn/flower.jpg"
PASSWORD="e2e passphrase $RANDOM$RANDOM"
printf '%s\n' "$PASSWORD" | "$BIN" users add sam --role senior_moderator --data "$DATA" > /dev/null
KEY=$("$BIN" keys create --name e2e --scope admin --data "$DATA" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '{"console": {"dir": "%s"}}\n' "$CONSOLE" > "$DATA/config.json"
"$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT" --config "$DATA/config.json" 2> "$OUT/serve.log" &
SERVER=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 300); do curl -sf "$BASE/readyz" > /dev/null && break; sleep 0.2; done
curl -sf "$BASE/readyz" > /dev/null || { echo "console_e2e: the server did not start" >&2; cat "$OUT/serve.log" >&2; exit 1; }
AUTH="Authorization: Bearer $KEY"
PDQ=$("$BIN" hash "$PHOTO" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pdq"])')
curl -sf -H "$AUTH" -H 'Content-Type: application/json' -d '{"name":"standin","category":"csam"}' "$BASE/v1/banks" > /dev/null
curl -sf -H "$AUTH" -H 'Content-Type: application/json' \
  -d "{\"signals\":[{\"type\":\"pdq\",\"value\":\"$PDQ\",\"external_id\":\"standin-1\"}]}" "$BASE/v1/banks/standin/signals" > /dev/null
CASE=$(curl -sf -H "$AUTH" -H 'Content-Type: image/jpeg' --data-binary "@$PHOTO" "$BASE/v1/scan?content_id=post-1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["case_id"])')
# A second case, confirmed through the API: reported to the NCA (the
# default destination), which the Reports page must show as sent.
OTHER="$SHARED/media/photos/python3-sklearn/china.jpg"
PDQ2=$("$BIN" hash "$OTHER" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pdq"])')
curl -sf -H "$AUTH" -H 'Content-Type: application/json' \
  -d "{\"signals\":[{\"type\":\"pdq\",\"value\":\"$PDQ2\",\"external_id\":\"standin-2\"}]}" "$BASE/v1/banks/standin/signals" > /dev/null
REPORTED=$(curl -sf -H "$AUTH" -H 'Content-Type: image/jpeg' --data-binary "@$OTHER" "$BASE/v1/scan?content_id=post-2" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["case_id"])')
curl -sf -H "$AUTH" -H 'Content-Type: application/json' -d '{"action":"confirm","note":"e2e"}' \
  "$BASE/v1/cases/$REPORTED/actions" > /dev/null
for _ in $(seq 100); do
  curl -sf -H "$AUTH" "$BASE/v1/reports" | grep -q '"state":"sent"' && break
  sleep 0.1
done
echo "console_e2e: case $CASE to work on, case $REPORTED reported, port $PORT"

# The browser reaches the server as localhost, where the Secure cookie is
# allowed over plain HTTP.
SG_BASE_URL="http://localhost:$PORT" SG_USER=sam SG_PASSWORD="$PASSWORD" SG_CASE_ID="$CASE" SG_REPORT_CASE_ID="$REPORTED" \
  SG_SCREENSHOT_DIR="$OUT" CHROMIUM="$CHROMIUM" node "$WEB/e2e/console.e2e.mjs"

# What the audit log says happened, as the compliance officer would check.
kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=
"$BIN" audit export --data "$DATA" > "$OUT/audit.jsonl"
python3 - "$OUT/audit.jsonl" "$CASE" <<'PY'
import json, sys
records = [json.loads(l) for l in open(sys.argv[1])]
case = sys.argv[2]
def find(action, pred=lambda r: True):
    return [r for r in records if r.get("action") == action and pred(r)]
checks = {
    "sign-in by sam": find("console.sign_in", lambda r: r["actor"] == "user:sam"),
    "unblur read by sam": find("evidence.read", lambda r: r["actor"] == "user:sam" and "unblur" in json.dumps(r.get("details", {}))),
    "remove of the case by sam": find("case.remove", lambda r: r["actor"] == "user:sam" and str(r.get("subject")) == case),
    "sign-out by sam": find("console.sign_out", lambda r: r["actor"] == "user:sam"),
}
bad = [k for k, v in checks.items() if not v]
if bad:
    print("console_e2e: missing from the audit log: " + ", ".join(bad), file=sys.stderr)
    print("actions seen: " + ", ".join(sorted({r.get("action", "?") for r in records})), file=sys.stderr)
    sys.exit(1)
print("console_e2e: audit log holds " + ", ".join(checks))
PY
"$BIN" audit verify --data "$DATA" > /dev/null
echo "console_e2e: passed; screenshots in $OUT"

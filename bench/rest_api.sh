#!/usr/bin/env bash
# Requests per second and p99 latency of the REST add-on's GET /api/me/ (token auth, JSON, throttled)
# against the bare /healthz, on one baked project under gunicorn with production settings on 127.0.0.1.
#
# Needs: python3 (with cookiecutter importable from $PYTHON, default python3), wrk (apt-get install wrk).
# Usage: bench/rest_api.sh     (set DURATION=5s REPEAT=3 CONNECTIONS=8 THREADS=2 DATABASE_URL=... to change)
# The generated project's virtualenv is cached under /tmp/ldj-venvs/<hash of its requirements-dev.txt>.
set -euo pipefail

TEMPLATE=$(cd "$(dirname "$0")/.." && pwd)
WORK="$TEMPLATE/bench/work"
PYTHON=${PYTHON:-python3}
DURATION=${DURATION:-5s}
REPEAT=${REPEAT:-3}  # alternate the two paths this many times and report medians: a shared machine is noisy
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-2}
PORT=${PORT:-$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
rm -rf "$WORK" && mkdir -p "$WORK"
"$PYTHON" -m cookiecutter --no-input "$TEMPLATE" -o "$WORK" project_slug=bench use_rest=true >/dev/null
PROJECT="$WORK/bench"

VENV=/tmp/ldj-venvs/$(sha256sum "$PROJECT/requirements-dev.txt" | cut -c1-16)
mkdir -p /tmp/ldj-venvs
(
    flock 9  # the same lock the template's tests take
    if [ ! -e "$VENV/ready" ]; then
        rm -rf "$VENV" && "$PYTHON" -m venv "$VENV"
        "$VENV/bin/pip" install -q -r "$PROJECT/requirements-dev.txt" && touch "$VENV/ready"
    fi
) 9>"$VENV.lock"

export PATH="$VENV/bin:$PATH" DEBUG=false ALLOWED_HOSTS=127.0.0.1 PORT
SECRET_KEY=$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(50))')
export SECRET_KEY DATABASE_URL=${DATABASE_URL:-sqlite:///$PROJECT/db.sqlite3}
export API_THROTTLE_USER=1000000/minute  # measure the throttle's cost, not its refusals

cd "$PROJECT"
python manage.py migrate --noinput >/dev/null
TOKEN=$(python manage.py shell --no-imports -c "
from django.contrib.auth.models import User; from rest_framework.authtoken.models import Token
user = User.objects.get_or_create(username='bench')[0]
print(Token.objects.get_or_create(user=user)[0].key)")

WEB=$(sed -n 's/^web: //p' Procfile)
$WEB >"$WORK/gunicorn.log" 2>&1 &
GUNICORN=$!
trap 'kill $GUNICORN 2>/dev/null; wait $GUNICORN 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
    sleep 0.2
done
curl -fsS -H "X-Forwarded-Proto: https" -H "Authorization: Token $TOKEN" "http://127.0.0.1:$PORT/api/me/" >/dev/null

measure() {  # path [header]: prints "requests/s p99"
    local out
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "X-Forwarded-Proto: https" ${2:+-H "$2"} \
        "http://127.0.0.1:$PORT$1")
    if grep -q "Non-2xx" <<<"$out"; then echo "$1 answered errors:" >&2; echo "$out" >&2; exit 1; fi
    echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")"
}

echo "gunicorn $(python -c 'import gunicorn; print(gunicorn.__version__)'), WEB_CONCURRENCY=${WEB_CONCURRENCY:-2}," \
    "GUNICORN_THREADS=${GUNICORN_THREADS:-4}; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; $(nproc) CPUs"
echo "database: ${DATABASE_URL%%:*}; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
RUNS=()
for round in $(seq "$REPEAT"); do
    RUNS+=("healthz $round $(measure /healthz)" "me $round $(measure /api/me/ "Authorization: Token $TOKEN")")
done
"$PYTHON" - "${RUNS[@]}" <<'PY'
import statistics
import sys

runs = {}
for run in sys.argv[1:]:  # "name round requests/s p99" with p99 as wrk prints it: 950.00us, 12.34ms, 1.02s
    name, _, rps, p99 = run.split()
    unit = p99.lstrip("0123456789.")
    runs.setdefault(name, []).append((float(rps), float(p99[: -len(unit)]) * {"us": 0.001, "ms": 1, "s": 1000}[unit]))
print(f"{'path':10} {'requests/s (median)':>20} {'p99 ms (median)':>16}   each round: requests/s @ p99 ms")
for name, path in [("healthz", "/healthz"), ("me", "/api/me/")]:
    rps, p99 = (statistics.median(column) for column in zip(*runs[name]))
    print(f"{path:10} {rps:20.0f} {p99:16.1f}   " + ", ".join(f"{r:.0f} @ {p:.1f}" for r, p in runs[name]))
ratio = statistics.median(r for r, _ in runs["me"]) / statistics.median(r for r, _ in runs["healthz"])
print(f"/api/me/ serves {ratio:.2f}x the requests/s of /healthz")
PY

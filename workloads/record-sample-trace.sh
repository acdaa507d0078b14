#!/usr/bin/env bash
# Re-record workloads/sample-trace.jsonl: real traffic through `memsoak
# record` in front of the loopback fixture server (tests/fixtures/
# embed_server.py). Nothing is downloaded. The client sends the lines of
# workloads/multilingual.txt in batches of 1 to 12, alternating the OpenAI
# and TEI APIs, in bursts (50 ms apart) separated by pauses (0.4 to 1.5 s).
set -euo pipefail
cd "$(dirname "$0")/.."
MEMSOAK=${MEMSOAK:-target/debug/memsoak}
[ -x "$MEMSOAK" ] || cargo build -q -p memsoak
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 tests/fixtures/embed_server.py --port "$port" 2>/dev/null &
server=$!
err=$(mktemp)
trap 'kill $server 2>/dev/null || true; rm -f "$err"' EXIT
sleep 1
"$MEMSOAK" record --listen 127.0.0.1:0 --upstream "http://127.0.0.1:$port" \
    --out workloads/sample-trace.jsonl --force 2>"$err" &
proxy=$!
until grep -q listening "$err"; do sleep 0.1; done
addr=$(grep -o 'http://127.0.0.1:[0-9]*' "$err" | head -1)
python3 - "$addr" <<'PY'
import json, sys, time, urllib.request
base = sys.argv[1]
lines = [l.strip() for l in open("workloads/multilingual.txt", encoding="utf-8") if l.strip()]
sizes = [1, 4, 12, 2, 8, 1, 1, 6, 3, 12, 5, 1, 2, 9, 4, 1, 7, 2, 10, 3, 1, 6, 2, 11]
pauses = [0.05, 0.05, 0.8, 0.05, 0.4, 0.05, 0.05, 1.5, 0.05, 0.6, 0.05, 0.05, 1.0,
          0.05, 0.05, 0.05, 0.7, 0.05, 0.4, 0.05, 1.2, 0.05, 0.05, 0.0]
k = 0
for i, (n, pause) in enumerate(zip(sizes, pauses)):
    texts = [lines[(k + j) % len(lines)] for j in range(n)]
    k += n
    if i % 2:
        url, body = base + "/embed", {"inputs": texts}
    else:
        url, body = base + "/v1/embeddings", {"input": texts, "model": "all-MiniLM-L6-v2"}
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
    time.sleep(pause)
PY
kill -INT $proxy
wait $proxy
cat "$err" >&2

#!/usr/bin/env python3
"""Generate the backup benchmark tree: a ~200 MB Winston-style JSON log, ~2000 random
binaries of 0-100 KB and 500 small config files. Deterministic (seeded)."""
import json, os, random, sys

root = sys.argv[1]
log_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 200
rnd = random.Random(20261129)
os.makedirs(os.path.join(root, "logs"), exist_ok=True)
os.makedirs(os.path.join(root, "uploads"), exist_ok=True)
os.makedirs(os.path.join(root, "config"), exist_ok=True)

levels = ["info"] * 16 + ["warn"] * 3 + ["error"]
paths = ["/api/stats", "/api/users", "/api/apps/%d", "/api/forms/%d/submit", "/health", "/api/pages/%d", "/login"]
msgs = ["request completed", "慢请求", "cache miss", "user login", "database query", "render page",
        "Error: connect ECONNREFUSED 127.0.0.1:5432", "validation failed", "session refreshed"]
target = log_mb * 1024 * 1024
written = 0
t = 1795000000.0
with open(os.path.join(root, "logs", "combined.log"), "w", encoding="utf-8") as f:
    buf = []
    while written < target:
        t += rnd.random() * 0.05
        p = rnd.choice(paths)
        if "%d" in p:
            p = p % rnd.randint(1, 5000)
        rec = {
            "level": rnd.choice(levels),
            "message": rnd.choice(msgs),
            "timestamp": "%sZ" % __import__("datetime").datetime.utcfromtimestamp(t).isoformat(timespec="milliseconds"),
            "method": rnd.choice(["GET", "GET", "GET", "POST", "PUT"]),
            "url": p,
            "status": rnd.choice([200] * 12 + [201, 304, 400, 404, 500]),
            "duration": rnd.randint(1, 3000),
            "requestId": "%08x-%04x" % (rnd.getrandbits(32), rnd.getrandbits(16)),
            "ip": "10.0.%d.%d" % (rnd.randint(0, 255), rnd.randint(1, 254)),
        }
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        buf.append(line)
        written += len(line.encode("utf-8"))
        if len(buf) >= 10000:
            f.write("".join(buf))
            buf = []
    f.write("".join(buf))

for i in range(2000):
    sub = os.path.join(root, "uploads", "%02d" % (i % 40))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "blob-%04d.bin" % i), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(0, 100 * 1024)))

for i in range(500):
    with open(os.path.join(root, "config", "app-%03d.json" % i), "w") as f:
        json.dump({"name": "app-%d" % i, "port": 3000 + i, "env": "production",
                   "features": {"cache": i % 2 == 0, "slowThresholdMs": 1000 + i},
                   "db": {"host": "127.0.0.1", "pool": 10}}, f, indent=2)

#!/usr/bin/env python3
"""Write a deterministic Winston JSON-lines log of about SIZE bytes (default 1 GiB) to PATH.

Mix (by line): ~90% info request lines, ~4% `慢请求 GET /api/x 1234ms` slow-request warnings,
~1% errors with varying ids (`请求失败 GET /api/pages/4048: JWT expired` …), ~5% other info.
Same arguments → same bytes (own LCG, fixed start time)."""
import sys

def main():
    path = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 30
    state = 20261129
    def rnd(n):
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        return (state >> 33) % n
    paths = ["/api/pages", "/api/apps", "/api/forms", "/api/users", "/api/components", "/api/datasource"]
    methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
    slow_paths = ["/api/x", "/api/pages/render", "/api/datasource/query", "/api/export"]
    errors = [
        lambda: f"请求失败 GET /api/pages/{rnd(10000)}: JWT expired",
        lambda: f"数据库连接失败 ECONNREFUSED 127.0.0.1:{5432 + rnd(2)}",
        lambda: f"请求失败 POST /api/apps/{rnd(5000)}/publish: Cannot read properties of undefined (reading 'id')",
        lambda: f"上游超时 timeout of {rnd(5) * 1000 + 5000}ms exceeded req={rnd(1 << 32):08x}",
    ]
    others = [
        lambda: f"缓存命中率 {rnd(1000) / 10:.1f}%",
        lambda: f"用户登录 user_id={rnd(100000)}",
        lambda: f"定时任务完成 job=cleanup duration={rnd(5000)}ms",
    ]
    t_ms = 1_795_942_800_000  # 2026-11-29T09:00:00Z
    import datetime
    written = 0
    buf = []
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        while written < size:
            t_ms += rnd(7)
            dt = datetime.datetime.fromtimestamp(t_ms // 1000, datetime.timezone.utc)
            ts = dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{t_ms % 1000:03d}Z"
            r = rnd(1000)
            if r < 900:
                i = rnd(len(paths))
                msg = f"{methods[i]} {paths[i]}/{rnd(10000)} {200 if rnd(50) else 304} {rnd(300)}ms"
                level = "info"
            elif r < 940:
                msg = f"慢请求 GET {slow_paths[rnd(len(slow_paths))]} {1000 + rnd(9000)}ms"
                level = "warn"
            elif r < 950:
                msg = errors[rnd(len(errors))]()
                level = "error"
            else:
                msg = others[rnd(len(others))]()
                level = "info"
            line = ('{"level":"%s","message":"%s","service":"lowcode-platform","timestamp":"%s","pid":%d}\n'
                    % (level, msg, ts, 4000 + rnd(4)))
            buf.append(line)
            written += len(line.encode("utf-8"))
            if len(buf) >= 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))

if __name__ == "__main__":
    main()

# Writes Python-client runs for the pyrun tests with GoodSeed's real client
# (GOODSEED_HOME names where): argv[1] runs of argv[2] steps, every config
# type, metrics at int and float steps (inf among the values), string
# series with non-ASCII text, tags; one run in ten failed, one in ten
# killed before close (its write-ahead log left behind), argv[3] == "big"
# for one run of many points instead, "plain" for runs in project
# plain/proj without the configs GoodSeed's Python server cannot answer
# (datetimes, string sets and so tags: it fails on them with a 500). It prints, as JSON, what the
# client's own read functions give for each run: the reference the import
# is compared with.
import json, os, sys
from datetime import datetime, timezone, timedelta
import goodseed
from goodseed import storage

n, steps, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
opts = dict(capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False,
            capture_traceback=False, git_ref=False)
out = {}
killed = None
for i in range(n):
    plain = mode == "plain"
    rid = f"{'plain' if plain else 'run'}-{i:03d}"
    project = "plain/proj" if plain else "ws/proj" if i % 3 else "solo"
    run = goodseed.Run(project=project, run_id=rid, name=f"experiment {i} ü", storage="local",
                       tags=None if plain else [f"t{i % 4}", "all"], **opts)
    cfg = {
        "b/true": True, "b/false": False, "none": None, "i/small": -3 - i, "i/big": 2**63 + i,
        "i/huge": -(2**70), "f/lr": 0.001 * (i + 1), "f/negzero": -0.0, "f/nan": float("nan"),
        "f/inf": float("inf"), "f/third": 1 / 3, "s/text": f"héllo \"{i}\"\n\ttab", "s/empty": "",
        "t/plus2": datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=2))),
        "t/naive": datetime(2024, 1, 2, 3, 4, 5),
        "opt": {"name": "adam", "betas": [0.9, 0.999]},
    }
    if plain:
        cfg = {k: v for k, v in cfg.items() if not isinstance(v, datetime)}
    run.log_configs(cfg)
    if not plain:
        run["set/mixed"] = {"ü", "b", "😀", f"x{i}"}
        run["sys/tags"].add("later")
    run["f/lr"] = 0.5  # set again: moves to the end
    for s in range(steps):
        run.log_metrics({"train/loss": 1.0 / (s + 1), "train/acc": s / steps}, step=s)
        if s % 7 == 0:
            run.log_metrics({"eval/half": float("inf") if s == 14 else s * 0.5}, step=s + 0.5)
        if s % 25 == 0:
            run.log_strings({"log/line": f"step {s}: ok ✓ {'é' * (s % 5)}"}, step=s)
    db = run._db_path
    out[str(db)] = {"project": project, "run_id": rid}
    if i % 10 == 9:
        killed = run  # left open: the process ends without close
    elif i % 10 == 4:
        run.close(status="failed")
    else:
        run.close()
    if mode == "big":
        break

for db in list(out):
    ref = out[db]
    meta, sp, mp = storage.read_run_summary(db)
    ref["meta"] = meta
    ref["configs"] = [[p, t, v] for p, t, v in
                      storage._open_readonly(db).execute("SELECT path, type_tag, value FROM configs ORDER BY rowid")]
    ref["metrics"] = [[m["path"], repr(m["step"]), repr(m["value"]), m["logged_at"]] for m in storage.read_metrics(db)]
    ss = storage.read_string_series(db)
    ref["strings"] = [[p["path"], repr(p["step"]), p["value"]] for p in ss["points"]]
print(json.dumps(out, ensure_ascii=False))
sys.stdout.flush()
if killed is not None:
    os._exit(0)  # as a killed process: no close, no checkpoint of the log

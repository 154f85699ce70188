"""`crossentropy eval` on Parquet and Arrow IPC files next to the I/O floor (reading the same columns with pyarrow).

For each shape (2M x 10 and 65536 x 1000 float32 logits, int64 labels) and each file kind (Parquet zstd,
Parquet uncompressed, Arrow IPC uncompressed, memory-mapped), it writes the file once, then runs, each in a fresh
process so that peak RSS is the command's own:

* ``eval``  -- ``crossentropy eval FILE --pred-col logits --target-col label --loss sparse_categorical
  --from-logits --json`` (the full command: read, per-row losses, perplexity, top-1 accuracy, compensated
  accumulation);
* ``floor`` -- pyarrow alone: the same columns, batch by batch, as NumPy views, every page touched once.

It prints one table: seconds (best of ``--repeat``; each child times its work after its imports), rows/s and
MB/s of logits for both, eval/floor, and the peak RSS of each process above a process that only does the same
imports (``wait4`` ru_maxrss).  ``eval`` here is ``crossentropy.cli.main([...])`` in a child: the installed
``crossentropy`` script runs the same function.  Timings on a shared machine are noisy: compare the ratios
within one run.

    python benchmarks/compare_io.py [--dir /tmp/ce-io] [--repeat 3] [--shapes 2000000x10,65536x1000]
                                    [--batch-rows N] [--threads N]
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

IMPORTS = "import sys, time, json, numpy, pyarrow, pyarrow.parquet, crossentropy.metrics, crossentropy.io.arrow\n"
EVAL = (
    IMPORTS
    + r"""
from crossentropy.cli import main
t0 = time.perf_counter()
rc = main(sys.argv[1:])
print(json.dumps({"seconds": time.perf_counter() - t0}), file=sys.stderr)
sys.exit(rc)
"""
)
FLOOR = (
    IMPORTS
    + r"""
from crossentropy.io.arrow import open_table
t0 = time.perf_counter()
with open_table(sys.argv[1], ["logits", "label"]) as t:
    s = 0.0
    for rb in t.batches(int(sys.argv[2])):
        x = rb.column("logits").flatten().to_numpy(zero_copy_only=True)
        y = rb.column("label").to_numpy(zero_copy_only=True)
        s += float(x[::1024].sum()) + float(y[::512].sum())    # touch every 4 KiB page once
print(json.dumps({"seconds": time.perf_counter() - t0}), file=sys.stderr)
"""
)
BASE = IMPORTS + "from crossentropy.cli import main\n"


def _write(path, kind, n, c, seed=0):
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    if os.path.exists(path):
        return
    rng = np.random.default_rng(seed)
    step = max(1, (64 << 20) // (4 * c))  # write in ~64 MiB pieces
    schema = pa.schema([("logits", pa.list_(pa.float32(), c)), ("label", pa.int64())])
    tmp = path + ".tmp"
    if kind.startswith("parquet"):
        comp = "zstd" if kind == "parquet-zstd" else "none"
        w = pq.ParquetWriter(tmp, schema, compression=comp)
    else:
        w = pa.ipc.new_file(tmp, schema)
    for a in range(0, n, step):
        m = min(step, n - a)
        x = (rng.standard_normal((m, c), dtype=np.float32) * 2).astype(np.float32)
        t = pa.table(
            {"logits": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), c), "label": rng.integers(0, c, m)},
            schema=schema,
        )
        if kind.startswith("parquet"):
            w.write_table(t, row_group_size=min(m, max(1, (16 << 20) // (4 * c))))
        else:
            w.write_table(t, max_chunksize=max(1, (16 << 20) // (4 * c)))
    w.close()
    del feather
    os.replace(tmp, path)


def _run(cmd):
    """Seconds of the timed part (the child measures it after its imports), peak RSS (bytes), stdout."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.decode()[-500:]}")
    lines = err.decode().strip().splitlines()
    seconds = json.loads(lines[-1])["seconds"] if lines else float("nan")
    return seconds, ru.ru_maxrss * 1024, out.decode()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/tmp/crossentropy-compare-io")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shapes", default="2000000x10,65536x1000")
    ap.add_argument("--kinds", default="parquet-zstd,parquet-none,ipc")
    ap.add_argument(
        "--batch-rows",
        type=int,
        default=None,
        help="rows per block for both (default: the eval command's own choice, about 64 MiB)",
    )
    ap.add_argument("--threads", type=int, default=None, help="kernel threads for eval (default: OpenMP's choice)")
    args = ap.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    py = sys.executable
    _, base_rss, _ = _run([py, "-c", BASE])
    rows = []
    for shape in args.shapes.split(","):
        n, c = (int(v) for v in shape.split("x"))
        batch = args.batch_rows or max(1, (64 << 20) // (4 * c))
        for kind in args.kinds.split(","):
            ext = ".arrow" if kind == "ipc" else ".parquet"
            path = os.path.join(args.dir, f"{kind}-{n}x{c}{ext}")
            _write(path, kind, n, c)
            ev_cmd = [
                py,
                "-c",
                EVAL,
                "eval",
                path,
                "--pred-col",
                "logits",
                "--target-col",
                "label",
                "--loss",
                "sparse_categorical",
                "--from-logits",
                "--json",
                "--chunk-rows",
                str(batch),
            ]
            if args.threads:
                ev_cmd += ["--threads", str(args.threads)]
            fl_cmd = [py, "-c", FLOOR, path, str(batch)]
            ev = min((_run(ev_cmd) for _ in range(args.repeat)), key=lambda r: r[0])
            fl = min((_run(fl_cmd) for _ in range(args.repeat)), key=lambda r: r[0])
            mean = json.loads(ev[2])["mean"]
            mb = n * c * 4 / 1e6
            rows.append(
                (
                    kind,
                    f"{n}x{c}",
                    os.path.getsize(path) / 2**20,
                    ev[0],
                    fl[0],
                    n / ev[0],
                    mb / ev[0],
                    mb / fl[0],
                    (ev[1] - base_rss) / 2**20,
                    (fl[1] - base_rss) / 2**20,
                    mean,
                )
            )
    print(
        f"crossentropy eval vs pyarrow read (I/O floor); RSS columns: peak above a process with the same "
        f"imports ({base_rss / 2**20:.0f} MiB); block rows: {args.batch_rows or 'about 64 MiB of logits'}; "
        f"threads: {args.threads or 'default'}"
    )
    hdr = (
        f"{'file':14s} {'shape':>13s} {'MiB':>7s} {'eval s':>8s} {'floor s':>8s} {'eval/floor':>10s} "
        f"{'eval Mrow/s':>11s} {'eval MB/s':>9s} {'floor MB/s':>10s} {'+RSS eval':>9s} {'+RSS floor':>10s}"
    )
    print(hdr)
    print("-" * len(hdr))
    for kind, shp, size, te, tf, rps, mbe, mbf, re_, rf, _ in rows:
        print(
            f"{kind:14s} {shp:>13s} {size:7.0f} {te:8.3f} {tf:8.3f} {te / tf:10.2f} {rps / 1e6:11.2f} "
            f"{mbe:9.0f} {mbf:10.0f} {re_:8.0f}M {rf:9.0f}M"
        )


if __name__ == "__main__":
    main()

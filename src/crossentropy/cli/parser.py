"""Options of the ``crossentropy`` command line (argparse), and what every subcommand shares."""

import argparse

PROG = "crossentropy"
LOSSES = ("categorical", "sparse_categorical", "binary", "categorical_focal", "binary_focal")
SEMANTICS = ("keras", "torch", "tf")
DEFAULT_CHUNK_BYTES = 64 << 20  # bytes of PRED per chunk when --chunk-rows is not given


class CLIError(Exception):
    """A problem with the user's input or options: printed as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (plus the exit status 2), not the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser():
    """The argparse parser of every subcommand; ``args.command`` names the one chosen."""
    p = _Parser(
        prog=PROG,
        description="Fast, faithful cross-entropy losses: demo, evaluation of large "
        "arrays on disk, and build information.",
    )
    from crossentropy import __version__

    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{demo,eval,info}", parser_class=_Parser)

    d = sub.add_parser(
        "demo",
        help="why Keras, tf.nn, PyTorch and the plain formula disagree; then a timed batch",
        description="Show why Keras, tf.nn, PyTorch and the plain formula give different numbers "
        "for the same inputs (each difference recomputed and explained), then time a synthetic "
        "batch.",
    )
    d.add_argument("--rows", type=int, default=16384, metavar="N", help="rows of the synthetic batch (default 16384)")
    d.add_argument(
        "--classes", type=int, default=1000, metavar="C", help="classes of the synthetic batch (default 1000)"
    )
    d.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    d.add_argument("--repeat", type=int, default=3, metavar="N", help="timed repetitions, best is reported (default 3)")
    d.add_argument("--threads", type=int, default=None, metavar="N", help="kernel threads (default: OpenMP's choice)")
    d.add_argument("--no-bench", action="store_true", help="skip the throughput part")

    e = sub.add_parser(
        "eval",
        help="evaluate a loss over PRED and TARGET arrays (.npy, .npz, Parquet, Arrow IPC)",
        description="Evaluate a loss over memory-mapped .npy/.npz arrays, or columns of Parquet files, "
        "Parquet datasets (a folder or a glob) and Arrow IPC .arrow/.feather files, in bounded chunks of "
        "rows; print the mean loss and the sample count, optionally write per-sample losses.  One table "
        "holding both columns: crossentropy eval TABLE --pred-col X --target-col Y.",
    )
    e.add_argument("pred", metavar="PRED", help="predictions: probabilities, or logits with --from-logits")
    e.add_argument(
        "target",
        metavar="TARGET",
        nargs="?",
        default=None,
        help="targets: one-hot/probabilities (same shape as PRED), "
        "class indices for sparse_categorical, 0/1 (or soft) labels for binary losses",
    )
    e.add_argument("--loss", choices=LOSSES, required=True)
    e.add_argument(
        "--semantics",
        choices=SEMANTICS,
        default="keras",
        help="whose definition to follow (default keras); tf.nn and torch's categorical losses "
        "take logits (--from-logits)",
    )
    e.add_argument("--from-logits", action="store_true", help="PRED holds logits, not probabilities")
    e.add_argument(
        "--axis",
        type=int,
        default=None,
        metavar="N",
        help="class axis of PRED (default -1; 1 for torch categorical/sparse_categorical)",
    )
    e.add_argument(
        "--label-smoothing",
        type=float,
        default=0.0,
        metavar="X",
        help="keras categorical/binary/focal, torch categorical/sparse_categorical (default 0)",
    )
    e.add_argument(
        "--ignore-class",
        type=int,
        default=None,
        metavar="K",
        help="sparse_categorical: label value that is ignored (keras ignore_class, torch "
        "ignore_index; torch's default -100 applies under --semantics torch)",
    )
    e.add_argument("--alpha", type=float, default=0.25, metavar="X", help="focal losses: alpha (default 0.25)")
    e.add_argument("--gamma", type=float, default=2.0, metavar="X", help="focal losses: gamma (default 2.0)")
    e.add_argument("--class-balancing", action="store_true", help="binary_focal: apply_class_balancing=True")
    e.add_argument("--pred-key", default=None, metavar="NAME", help="array name inside a PRED .npz")
    e.add_argument("--target-key", default=None, metavar="NAME", help="array name inside a TARGET .npz")
    e.add_argument(
        "--pred-col",
        default=None,
        metavar="NAME",
        help="PRED column of a Parquet/Arrow table (fixed-size list, equal-length list or fixed-shape tensor)",
    )
    e.add_argument(
        "--target-col",
        default=None,
        metavar="NAME",
        help="TARGET column (of TARGET's table, or of PRED's table when no TARGET file is given)",
    )
    e.add_argument(
        "--per-token",
        metavar="OUT.npz",
        default=None,
        help="sparse_categorical from logits: write the token statistics nll, lse, entropy, rank, valid "
        "(each of the labels' shape) to this .npz",
    )
    e.add_argument(
        "--per-sequence",
        metavar="OUT.npy",
        default=None,
        help="sparse_categorical from logits with (B, T, V) PRED: write the B per-sequence perplexities "
        "(exp of the mean nll over each sequence's counted tokens; NaN for none)",
    )
    e.add_argument(
        "--top-k",
        type=int,
        default=1,
        metavar="K",
        help="sparse_categorical from logits: also report top-K accuracy (default 1)",
    )
    e.add_argument(
        "--per-sample",
        metavar="OUT.npy",
        default=None,
        help="write the per-sample losses to this .npy file (memory-mapped, written chunk by chunk)",
    )
    e.add_argument(
        "--threads", type=int, default=None, metavar="N", help="kernel threads (crossentropy.set_num_threads)"
    )
    e.add_argument(
        "--chunk-rows",
        type=int,
        default=None,
        metavar="N",
        help=f"rows per chunk (default: about {DEFAULT_CHUNK_BYTES >> 20} MiB of PRED)",
    )
    e.add_argument("--json", action="store_true", help="print the result as one JSON object")
    e.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: only when stderr is a terminal)",
    )

    i = sub.add_parser(
        "info",
        help="build and thread configuration",
        description="Print the build and thread configuration (OpenMP, SIMD paths, threads).",
    )
    i.add_argument("--json", action="store_true", help="print crossentropy._config.build_info() as JSON")
    i.add_argument(
        "--threads", type=int, default=None, metavar="N", help="report as if set_num_threads(N) had been called"
    )
    return p


def set_threads(n):
    """``--threads N``: crossentropy.set_num_threads(N), refusing N < 1 (None: leave OpenMP's choice)."""
    if n is None:
        return
    if n < 1:
        raise CLIError(f"--threads must be >= 1, got {n}")
    import crossentropy

    crossentropy.set_num_threads(n)

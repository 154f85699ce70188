"""``crossentropy demo``: why do Keras, tf.nn, PyTorch and the plain formula disagree on the same inputs?

Each difference is recomputed with crossentropy's own functions next to the value the framework (or the
plain formula) prints, and explained in one line; then a synthetic batch is timed against plain NumPy.
"""

import math
import sys
import time
import warnings

import numpy as np

from crossentropy.cli.parser import CLIError, set_threads


def _num(v):
    """A number as the frameworks print it: float32 by its shortest repr, float64 to 8 digits."""
    v = np.asarray(v)
    if v.ndim:
        if v.dtype == np.float32:
            return "[" + " ".join(str(x) for x in v.ravel()) + "]"
        return np.array2string(v.ravel(), precision=8, separator=" ")
    if v.dtype == np.float32:
        return str(v[()])
    return f"{float(v):.8g}"


def cmd_demo(args):
    """Print the explained differences, then (unless ``--no-bench``) time a synthetic batch."""
    for name in ("rows", "classes", "repeat"):
        if getattr(args, name) < 1:
            raise CLIError(f"--{name} must be >= 1, got {getattr(args, name)}")
    set_threads(args.threads)
    import crossentropy as ce
    from crossentropy import keras as K
    from crossentropy import tf as TF
    from crossentropy import torch as T

    def w(s=""):
        print(s, file=sys.stdout)

    def row(what, reference, ours, note=""):
        w(f"    {what:56s} {ours:>14s}   reference: {reference}" + (f"   {note}" if note else ""))

    def why(text):
        w(f"    why: {text}")

    def warned(caught):
        seen = set()
        for wm in caught:
            msg = _first_sentence(str(wm.message))
            if issubclass(wm.category, ce.ProbabilityWarning) and msg not in seen:
                seen.add(msg)
                w(f"    (crossentropy warns: ProbabilityWarning: {msg})")
        caught.clear()

    f32 = np.float32
    w("crossentropy demo: why do Keras, tf.nn, PyTorch and the plain formula disagree?")
    w("Each row: crossentropy's value, then the reference value the framework (or formula) itself prints.")
    w("=" * 100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ce.ProbabilityWarning)

        # --- Keras rescales rows that do not sum to 1 --------------------------------------------------
        y_true = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        y_pred = np.array([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]])
        plain = np.sum(-y_true * np.log(y_pred), axis=1)
        keras_rows = K.categorical_crossentropy(y_true, y_pred)
        keras_mean = K.CategoricalCrossentropy()(y_true, y_pred)
        w("[1] Keras CategoricalCrossentropy gives a different value than the plain formula")
        w("    y_true = eye(3), y_pred = [[.9 .05 .05] [.5 .89 .6] [.05 .01 .94]]  (row 2 sums to 1.99)")
        w(
            f"    plain -sum(y_true*log(y_pred), axis=1)     {_num(plain)}"
            "   reference: [0.10536052 0.11653382 0.0618754 ]"
        )
        row("plain: sum over the batch", "0.2837697356318653", _num(plain.sum()))
        row("plain: mean over the batch", "0.09458991187728844", _num(plain.mean()))
        w(
            f"    keras categorical_crossentropy (per sample) {_num(keras_rows)}"
            "   reference: [0.10536052 0.80466845 0.0618754 ]"
        )
        row(
            "keras CategoricalCrossentropy()(y_true, y_pred)",
            "0.3239681124687195",
            _num(keras_mean),
            f"(float32; float64 mean {_num(np.mean(keras_rows))})",
        )
        why(
            f"Keras divides each probability row by its sum: [.5 .89 .6] -> "
            f"{_num(y_pred[1] / y_pred[1].sum())}, so row 2 costs -log 0.4472 = {_num(keras_rows[1])}, "
            f"not -log 0.89 (the class then averages in float32: last digit is rounding)."
        )
        warned(caught)

        # --- Keras clips probabilities ---------------------------------------------------------------
        y_true2 = np.array([[0.0, 1.0]])
        y_pred2 = np.array([[0.99999999999, 0.00000000001]])
        plain2 = np.sum(-y_true2 * np.log(y_pred2), axis=1)
        keras2 = K.categorical_crossentropy(y_true2, y_pred2)
        w()
        w("[2] Keras clips probabilities: y_true = [[0 1]], y_pred = [[0.99999999999 1e-11]]")
        row("plain -sum(y_true*log(y_pred))", "25.32843602", _num(plain2[0]))
        row("keras categorical_crossentropy", "16.11809565", _num(keras2[0]))
        why(
            f"Keras clips probabilities to [1e-7, 1 - 1e-7]: -log(1e-11) = {plain2[0]:.3f} becomes "
            f"-log(1e-7) = {-math.log(1e-7):.3f}."
        )
        warned(caught)

        # --- tf.nn takes logits, Keras takes probabilities ---------------------------------------------
        soft = TF.softmax_cross_entropy_with_logits(labels=np.array([1, 2], f32), logits=np.array([1, 2], f32))
        kcat = K.categorical_crossentropy(np.array([1, 2], f32), np.array([1, 2], f32))
        kcat_caught = list(caught)
        caught.clear()
        sparse = TF.sparse_softmax_cross_entropy_with_logits(labels=np.array(1, np.int32), logits=np.array([1, 2], f32))
        sparse64 = TF.sparse_softmax_cross_entropy_with_logits(labels=np.array(1), logits=np.array([1.0, 2.0]))
        ksparse = K.sparse_categorical_crossentropy(np.array([1]), np.array([[0.2, 0.2, 0.6]], f32))
        sig = TF.sigmoid_cross_entropy_with_logits(labels=np.array([1], f32), logits=np.array([1], f32))
        kbin = K.binary_crossentropy(np.array([1], f32), np.array([1], f32))
        p = np.clip(f32(1), f32(1e-7), f32(1) - f32(1e-7))
        logit = np.log(p / (f32(1) - p))
        old_keras = ce.sigmoid_cross_entropy(logit, f32(1))  # Keras 2's route: clip, back to a logit, sigmoid loss
        w()
        w("[3] tf.nn functions take logits, Keras losses take probabilities (float32)")
        row("tf.nn.softmax_cross_entropy_with_logits([1,2], [1,2])", "1.939785", _num(soft))
        why("softmax([1,2]) = [0.2689 0.7311], labels need not sum to 1: -(1*log 0.2689 + 2*log 0.7311).")
        row("keras categorical_crossentropy([1,2], [1,2])", "1.9095424", _num(kcat))
        why("Keras reads [1,2] as probabilities and rescales them to [1/3, 2/3]: -(log(1/3) + 2*log(2/3)).")
        caught.extend(kcat_caught)
        warned(caught)
        row(
            "tf.nn.sparse_softmax_cross_entropy_with_logits(1, [1,2])",
            "0.31326166",
            _num(sparse),
            f"(float64 {_num(sparse64)})",
        )
        why(
            "only the labelled class counts: -log softmax([1,2])[1] = log(1 + e^-1) = 0.3132616875; TF's "
            "float32 log(1 + exp(-1)) lands one ulp low, crossentropy's log1p is correctly rounded."
        )
        row("keras sparse_categorical_crossentropy(1, [0.2 0.2 0.6])", "1.609438", _num(ksparse))
        why("the row is already a probability vector: -log 0.2.")
        row("tf.nn.sigmoid_cross_entropy_with_logits([1], [1])", "0.3132617", _num(sig))
        why(
            "1 is a logit, p = sigmoid(1) = 0.731: labels == logits is not a perfect prediction, "
            "max(x,0) - x*z + log(1 + e^-|x|) = log(1 + e^-1)."
        )
        row(
            "keras binary_crossentropy([1], [1]), Keras 2's route",
            "1.1920933e-07",
            _num(old_keras),
            f"(clip to 1-1e-7, logit {_num(logit)}, sigmoid_cross_entropy)",
        )
        row("keras binary_crossentropy([1], [1]), Keras 3", "-", _num(kbin), "(clip to 1-1e-7, log)")
        why(
            "1 is a probability, clipped to 1 - 1e-7, so the loss is -log(1 - 1e-7) ~ 1.19e-07, not 0; the "
            "last digits are float32 rounding of the route taken."
        )
        warned(caught)

    # --- PyTorch: the gradient is y_hat - y -------------------------------------------------------------------
    rng = np.random.default_rng(1234)
    x = rng.random((4, 7))  # like torch.rand(4, 7): 4 samples, 7 classes
    y = np.array([1, 3, 5, 0])
    loss, grad = T.cross_entropy(x, y, return_grad=True)
    onehot = np.eye(7)[y]
    manual = -(np.log(ce.softmax(x)) * onehot).sum() / 4
    expected = (ce.softmax(x) - onehot) / 4
    _, row_grad = ce.sparse_softmax_cross_entropy_and_grad(x, y)
    w()
    w("[4] PyTorch CrossEntropyLoss and its gradient; x = rand(4, 7), y = [1, 3, 5, 0]")
    row("crossentropy.torch.cross_entropy(x, y)", "-", _num(loss))
    row("manual -(log(softmax(x)) * onehot).sum() / 4", "-", _num(manual))
    row("max |grad - (softmax(x) - onehot) / 4|", "-", f"{np.max(np.abs(grad - expected)):.1e}")
    row(
        "max |sparse_..._and_grad(x, y)[1] - (softmax - onehot)|",
        "-",
        f"{np.max(np.abs(row_grad - (ce.softmax(x) - onehot))):.1e}",
    )
    why(
        "gradient = y_hat - y: d(-log softmax(x)[y])/dx = softmax(x) - onehot(y) (the softmax Jacobian "
        "cancels the 1/y_hat of the log); CrossEntropyLoss's mean adds the 1/N."
    )

    if not args.no_bench:
        w()
        _demo_bench(args, w)
    return 0


def _first_sentence(msg):
    return msg.split(";")[0].strip()


def _best_time(fn, repeat):
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _demo_bench(args, w):
    import crossentropy as ce

    n, c, dt = args.rows, args.classes, np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c), dtype=dt)
    labels = rng.integers(0, c, n)
    loss = np.empty(n, dt)
    grad = np.empty_like(x)
    nbytes = x.nbytes
    w(
        f"[5] synthetic batch: {n} x {c} {dt.name} logits ({nbytes / 2**20:.0f} MiB), "
        f"{ce.get_num_threads()} thread(s), best of {args.repeat}"
    )

    def numpy_ref():
        m = x.max(axis=1, keepdims=True)
        lse = np.log(np.exp(x - m).sum(axis=1)) + m[:, 0]
        return lse - x[np.arange(n), labels]

    rows = [
        ("sparse_softmax_cross_entropy", lambda: ce.sparse_softmax_cross_entropy(x, labels, out=loss)),
        (
            "sparse_softmax_cross_entropy_and_grad",
            lambda: ce.sparse_softmax_cross_entropy_and_grad(x, labels, out=(loss, grad)),
        ),
        ("plain NumPy (max, exp, sum, log, gather)", numpy_ref),
    ]
    times = {}
    for name, fn in rows:
        fn()  # warm up (page faults, thread team)
        t = _best_time(fn, args.repeat)
        times[name] = t
        w(f"    {name:42s} {t * 1e3:8.2f} ms  {n / t / 1e6:8.2f} M rows/s  {nbytes / t / 1e9:6.2f} GB/s")
    ref = float(np.max(np.abs(ce.sparse_softmax_cross_entropy(x, labels) - numpy_ref())))
    w(f"    loss is {times[rows[2][0]] / times[rows[0][0]]:.1f}x plain NumPy; max |difference| {ref:.1e}")

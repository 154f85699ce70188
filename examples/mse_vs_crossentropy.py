"""Why cross-entropy trains a sigmoid output faster than mean squared error, in numbers
and as a figure.

For one sigmoid output a = sigmoid(z) and a target y:

    MSE            L = 1/2 (a - y)^2                      dL/dz = (a - y) * a (1 - a)
    cross-entropy  L = -[y ln a + (1 - y) ln(1 - a)]      dL/dz = a - y

The factor a(1 - a) (the sigmoid's own slope) multiplies the MSE gradient: when the output saturates the
gradient vanishes, even when the prediction is completely wrong (y = 1, z = -10: a = 4.5e-5, and MSE's
gradient is -4.5e-5 while cross-entropy's is -0.99995).  Cross-entropy's gradient is the error itself.

The cross-entropy side is computed with crossentropy.sigmoid_cross_entropy_and_grad (loss and dL/dz of the
stable form max(z, 0) - z*y + log1p(exp(-|z|)) in one pass); the MSE side is written out in NumPy.

    python examples/mse_vs_crossentropy.py                      # table + docs/mse_vs_crossentropy.png
    python examples/mse_vs_crossentropy.py --out fig.png        # elsewhere
    python examples/mse_vs_crossentropy.py --no-figure          # numbers only (no matplotlib needed)
"""

import argparse
import os

import numpy as np

import crossentropy as ce


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free


def mse_and_grad(z, y):
    a = sigmoid(z)
    return 0.5 * (a - y) ** 2, (a - y) * a * (1.0 - a)


def xent_and_grad(z, y):
    z, y = np.broadcast_arrays(np.asarray(z, float), np.asarray(y, float))
    return ce.sigmoid_cross_entropy_and_grad(z, y)


def check_derivatives():
    """Finite differences confirm both derivatives (and that the gufunc's gradient is sigmoid(z) - y)."""
    z = np.linspace(-8, 8, 33)
    h = 1e-6
    for y in (0.0, 1.0, 0.3):
        for f in (mse_and_grad, xent_and_grad):
            _, g = f(z, y)
            fd = (f(z + h, y)[0] - f(z - h, y)[0]) / (2 * h)
            assert np.allclose(g, fd, rtol=1e-5, atol=1e-9), f.__name__
        assert np.allclose(xent_and_grad(z, y)[1], 1.0 / (1.0 + np.exp(-z)) - y, rtol=1e-14, atol=1e-15)


def train(loss_and_grad, z0=-6.0, y=1.0, lr=1.0, steps=1000):
    """Gradient descent on the pre-activation of one badly wrong output: how fast does it recover?"""
    z, path = z0, []
    for _ in range(steps):
        _, g = loss_and_grad(np.array(z), y)
        path.append(float(sigmoid(z)))
        z = z - lr * float(g)
    return np.array(path)


def _first(path, level=0.5):
    """Steps taken until the output first exceeds ``level`` (None: never, within the run)."""
    above = path > level
    return int(np.argmax(above)) if above.any() else None


def table():
    y = 1.0
    zs = np.array([-10.0, -6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0])
    ml, mg = mse_and_grad(zs, y)
    xl, xg = xent_and_grad(zs, y)
    lines = [
        "target y = 1, output a = sigmoid(z)",
        f"{'z':>6} {'a':>10} {'MSE loss':>11} {'MSE dL/dz':>11} {'CE loss':>11} {'CE dL/dz':>11} {'MSE/CE grad':>11}",
    ]
    for z, a, l1, g1, l2, g2 in zip(zs, sigmoid(zs), ml, mg, xl, xg, strict=False):
        lines.append(f"{z:6.1f} {a:10.3e} {l1:11.4e} {g1:11.4e} {l2:11.4e} {g2:11.4e} {g1 / g2:11.3e}")
    return "\n".join(lines)


def chain_rule_example():
    """dL/dw2 for z2 = w2 a1 + b2: MSE keeps the a2(1 - a2) factor, cross-entropy drops it."""
    a1, w2, b2, y = 0.8, -4.0, -2.0, 1.0
    z2 = w2 * a1 + b2
    a2 = sigmoid(z2)
    _, g_mse = mse_and_grad(np.array(z2), y)
    _, g_ce = xent_and_grad(z2, y)
    return (
        f"z2 = w2*a1 + b2 = {z2:.2f}, a2 = {a2:.4f}, y = 1:\n"
        f"  MSE: dL/dw2 = (a2 - y) * a2(1 - a2) * a1 = {float(g_mse) * a1:.3e}\n"
        f"  CE:  dL/dw2 = (a2 - y) * a1              = {float(g_ce) * a1:.3e}  "
        f"({float(g_ce) / float(g_mse):.0f}x larger)"
    )


def figure(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = np.linspace(-10, 10, 801)
    y = 1.0
    ml, mg = mse_and_grad(z, y)
    xl, xg = xent_and_grad(z, y)
    vanish = np.abs(mg) < 0.01 * np.abs(xg)  # MSE's gradient below 1% of cross-entropy's
    wrong = vanish & (z < 0)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), constrained_layout=True)
    ax = axes[0]
    ax.plot(z, xl, label="cross-entropy  $-\\ln a$", color="C0", lw=2)
    ax.plot(z, ml, label="MSE  $\\frac{1}{2}(a-1)^2$", color="C3", lw=2)
    ax.set(
        xlabel="pre-activation $z$  ($a = \\sigma(z)$)",
        ylabel="loss",
        title="Loss for target $y = 1$",
        ylim=(-0.2, 10.5),
    )
    ax.legend(loc="upper right")

    ax = axes[1]
    ax.axvspan(
        z[wrong][0],
        z[wrong][-1],
        color="C3",
        alpha=0.12,
        label="MSE gradient < 1% of cross-entropy's\n(output saturated, prediction wrong)",
    )
    ax.plot(z, xg, label="cross-entropy  $a - y$", color="C0", lw=2)
    ax.plot(z, mg, label="MSE  $(a - y)\\,a(1-a)$", color="C3", lw=2)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="pre-activation $z$", ylabel="$dL/dz$", title="Gradient for target $y = 1$", ylim=(-1.08, 0.1))
    ax.annotate(
        f"z = -6: MSE {float(mse_and_grad(np.array(-6.0), 1.0)[1]):.1e}\n"
        f"         CE  {float(xent_and_grad(-6.0, 1.0)[1]):.3f}",
        xy=(-6, float(mse_and_grad(np.array(-6.0), 1.0)[1])),
        xytext=(-9.6, -0.45),
        arrowprops=dict(arrowstyle="->", color="0.3"),
        family="monospace",
        fontsize=9,
    )
    ax.legend(loc="lower right", fontsize=9)

    ax = axes[2]
    ce_path, mse_path = train(xent_and_grad), train(mse_and_grad)
    steps = np.arange(1, len(ce_path) + 1)
    ax.semilogx(steps, ce_path, color="C0", lw=2, label=f"cross-entropy: a > 0.5 after {_first(ce_path)} steps")
    ax.semilogx(steps, mse_path, color="C3", lw=2, label=f"MSE: a > 0.5 after {_first(mse_path)} steps")
    ax.axhline(0.5, color="k", lw=0.5, ls=":")
    ax.set(
        xlabel="gradient-descent step (learning rate 1, log scale)",
        ylabel="output $a = \\sigma(z)$",
        title="Recovering from a wrong start ($z_0 = -6$, $y = 1$)",
        ylim=(-0.03, 1.03),
    )
    ax.legend(loc="center right", fontsize=9)

    fig.suptitle(
        "With a sigmoid output, MSE's gradient carries the factor $a(1-a)$ and vanishes "
        "where the output saturates; cross-entropy's gradient is the error $a - y$",
        fontsize=11,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(here, os.pardir, "docs", "mse_vs_crossentropy.png"))
    p.add_argument("--no-figure", action="store_true")
    args = p.parse_args(argv)

    check_derivatives()
    print(table())
    print()
    print(chain_rule_example())
    print()
    mse_path, ce_path = train(mse_and_grad), train(xent_and_grad)
    print(
        f"gradient descent from z = -6 (a = {sigmoid(-6.0):.4f}), y = 1, learning rate 1: the output passes 0.5 "
        f"after {_first(ce_path)} steps with cross-entropy, {_first(mse_path)} steps with MSE"
    )
    if not args.no_figure:
        try:
            figure(args.out)
        except ImportError:
            print("matplotlib is not installed: no figure (pip install matplotlib)")
        else:
            print(f"figure written to {os.path.normpath(args.out)}")


if __name__ == "__main__":
    main()

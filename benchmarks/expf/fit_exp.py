#!/usr/bin/env python
"""Minimax coefficients for exp(r) on the reduced range |r| <= ln2/2, relative error, constant term 1.

    python benchmarks/expf/fit_exp.py --degree 5            # float32 candidates
    python benchmarks/expf/fit_exp.py --degree 11 --double  # float64 candidates
    python benchmarks/expf/fit_exp.py --degree 3 --table 8  # the AVX2 table exp's (|r| <= ln2/16)

exp(r) ~ 1 + r q(r), q of degree n-1, chosen by a discretised Remez exchange (mpmath, 50 digits) to minimise
max |(1 + r q(r)) / exp(r) - 1|.  That error is r (q(r) - (exp(r) - 1)/r) / exp(r): a weighted approximation
of (exp(r) - 1)/r whose weight changes sign at r = 0, so the alternation is counted on error * sign(r).
Prints the coefficients rounded to the target precision and the relative
error of the rounded polynomial on a dense grid (the C microbenchmark measures the real float error).
"""

import argparse

import mpmath as mp

mp.mp.dps = 50


def remez(degree, a, grid=4000, iters=30):
    n = degree  # unknowns: c1..cn and the levelled error E
    xs = [mp.mpf(-a) + 2 * mp.mpf(a) * i / (grid - 1) for i in range(grid)]
    xs = [x for x in xs if x != 0]
    # start from Chebyshev points
    ref = [a * mp.cos(mp.pi * (n - i) / n) for i in range(n + 1)]
    ref = [r if r != 0 else mp.mpf(a) / grid for r in ref]
    c = None
    for _ in range(iters):
        A = mp.matrix(n + 1, n + 1)
        b = mp.matrix(n + 1, 1)
        for i, r in enumerate(ref):
            er = mp.exp(r)
            for k in range(1, n + 1):
                A[i, k - 1] = r**k / er
            A[i, n] = (-1) ** i * mp.sign(r)  # the weight r/exp(r) changes sign at 0: alternate |r|-weighted
            b[i] = 1 - 1 / er
        sol = mp.lu_solve(A, b)
        c = [sol[k] for k in range(n)]

        def err(x, c=c):
            return (1 + sum(ck * x ** (k + 1) for k, ck in enumerate(c))) / mp.exp(x) - 1

        es = [err(x) * mp.sign(x) for x in xs]
        # local extrema with alternating signs
        ext = []
        for i in range(len(xs)):
            left = es[i - 1] if i else None
            right = es[i + 1] if i + 1 < len(xs) else None
            if (left is None or abs(es[i]) >= abs(left)) and (right is None or abs(es[i]) >= abs(right)):
                if ext and mp.sign(es[ext[-1]]) == mp.sign(es[i]):
                    if abs(es[i]) > abs(es[ext[-1]]):
                        ext[-1] = i
                else:
                    ext.append(i)
        while len(ext) > n + 1:  # drop the smaller end
            if abs(es[ext[0]]) < abs(es[ext[-1]]):
                ext.pop(0)
            else:
                ext.pop()
        if len(ext) < n + 1:
            break
        ref = [xs[i] for i in ext]
    return c, max(abs(e) for e in es)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--degree", type=int, default=5)
    p.add_argument("--double", action="store_true")
    p.add_argument("--slack", type=float, default=1.0001, help="fit on |r| <= slack * ln2/2")
    p.add_argument("--table", type=int, default=1, help="L entries of 2^(j/L) in a table: |r| <= ln2/(2L)")
    a = p.parse_args()
    half = mp.log(2) / (2 * a.table) * mp.mpf(a.slack)
    c, e = remez(a.degree, half)
    import numpy as np

    dt = np.float64 if a.double else np.float32
    cr = [dt(float(ck)) for ck in c]
    print(f"degree {a.degree}: minimax relative error {mp.nstr(e, 5)} ({float(e) / float(np.finfo(dt).eps):.3f} eps)")
    for k, ck in enumerate(cr, 1):
        print(f"  c{k} = {float(ck).hex()}  /* {ck!r} */")
    xs = [half * (2 * i / 20000 - 1) for i in range(20001)]
    worst = max(abs((1 + sum(mp.mpf(float(ck)) * x**k for k, ck in enumerate(cr, 1))) / mp.exp(x) - 1) for x in xs)
    eps = float(np.finfo(dt).eps)
    print(f"  rounded coefficients: relative error {mp.nstr(worst, 5)} ({float(worst) / eps:.3f} eps)")


if __name__ == "__main__":
    main()

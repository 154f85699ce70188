"""show_config(): what this build can do and what it uses on this machine."""

import sys

import numpy as np

from crossentropy import _kernels


def build_info():
    """The build and thread configuration as a dict (used by show_config and ``crossentropy info``)."""
    info = _kernels.openmp_info()
    info["threads_in_use"] = _kernels.get_num_threads()
    # without clones the one path built is the one in use (fixed at build time: meson option simd)
    info["simd_paths_built"] = (
        ["x86-64-v4 (AVX-512)", "x86-64-v3 (AVX2+FMA)", "baseline"] if info["simd_clones"] else [info["simd_path"]]
    )
    info["numpy"] = np.__version__
    info["python"] = sys.version.split()[0]
    return info


def show_config(file=None):
    """Print the build configuration: OpenMP on/off, SIMD paths compiled and the one in use, how half
    precision rows are converted, threads.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default ``sys.stdout``).

    Returns
    -------
    None

    Examples
    --------
    >>> import crossentropy as ce
    >>> ce.show_config()  # doctest: +ELLIPSIS
    crossentropy build configuration
      OpenMP: ...
      threads in use: ...
    """
    info = build_info()
    lines = [
        "crossentropy build configuration",
        f"  OpenMP:            {'on' if info['openmp'] else 'OFF (kernels run serially)'}",
        f"  threads in use:    {info['threads_in_use']} (OpenMP max {info['omp_max_threads']}, "
        f"CPUs available {info['cpu_count']}{', forked child: serial' if info['forked_child'] else ''})",
        f"  SIMD paths built:  {', '.join(info['simd_paths_built'])}",
        f"  SIMD path in use:  {info['simd_path']}",
        f"  float16 rows:      {info['float16_path']}",
        f"  bfloat16 rows:     {info['bfloat16_path']}",
        f"  row prefetch:      {info['row_prefetch']}",
        f"  work per thread:   >= {info['min_work_per_thread']} elements before a thread is started",
        f"  numpy {info['numpy']}, python {info['python']}",
    ]
    print("\n".join(lines), file=file or sys.stdout)

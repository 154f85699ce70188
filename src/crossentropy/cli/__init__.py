"""The ``crossentropy`` command line: ``demo``, ``eval`` and ``info``.

``crossentropy demo``   why Keras, tf.nn, PyTorch and the plain formula give different numbers for the same
                        inputs, each difference recomputed with crossentropy and explained; then a timed batch.
``crossentropy eval``   evaluates a loss over .npy/.npz files of any size: inputs are memory-mapped and walked in
                        bounded chunks of rows, so memory stays flat however large the files are.
``crossentropy info``   prints the build and thread configuration.

Errors in the input (a missing file, mismatched shapes, a label out of range, a bad option) end the program
with one line on stderr and a non-zero exit status, never a traceback (set CROSSENTROPY_TRACEBACK=1 to see one).
Exit status: 0 success, 1 bad input or failed computation, 2 bad command line, 130 interrupted.

Modules: :mod:`~crossentropy.cli.parser` (options), :mod:`~crossentropy.cli.demo`,
:mod:`~crossentropy.cli.evaluate` (planning and running an evaluation); files are read through
:mod:`crossentropy.io`.
"""

import json
import os
import sys

from crossentropy.cli.parser import PROG, CLIError, build_parser, set_threads
from crossentropy.io import ReadError

__all__ = ["main", "CLIError"]


def main(argv=None):
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 success, 1 bad input or failed computation, 2 bad command line, 130 interrupted.

    Examples
    --------
    >>> from crossentropy.cli import main
    >>> main(["info", "--json"]) == 0  # doctest: +ELLIPSIS
    {...}
    True
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    command = COMMANDS.get(getattr(args, "command", None))
    if command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return command(args) or 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `crossentropy demo | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces stdout until exit
        except OSError:
            pass
        return 0
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line
        if os.environ.get("CROSSENTROPY_TRACEBACK"):
            raise
        print(f"{PROG} {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 1


def one_line(exc):
    """An exception as one line: the user's own errors as their text, anything else with its type."""
    text = " ".join(str(exc).split()) if str(exc) else ""
    if isinstance(exc, (CLIError, ReadError)):
        return text
    if isinstance(exc, MemoryError):
        return "out of memory" + (f" ({text})" if text else "") + "; try a smaller --chunk-rows"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def cmd_info(args):
    """``crossentropy info``: version, build and threads (as JSON with ``--json``)."""
    set_threads(args.threads)
    import crossentropy
    from crossentropy._config import build_info, show_config

    if args.json:
        info = dict(build_info())
        info["version"] = crossentropy.__version__
        print(json.dumps(info, indent=2, sort_keys=True, default=str))
    else:
        print(f"crossentropy {crossentropy.__version__} ({os.path.dirname(crossentropy.__file__)})")
        show_config()
    return 0


def _cmd_demo(args):
    from crossentropy.cli.demo import cmd_demo  # imported when used: `crossentropy info` stays light

    return cmd_demo(args)


def _cmd_eval(args):
    from crossentropy.cli.evaluate import cmd_eval

    return cmd_eval(args)


COMMANDS = {"demo": _cmd_demo, "eval": _cmd_eval, "info": cmd_info}

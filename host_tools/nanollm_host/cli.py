"""The edge every host command shares with the shell: a reader that goes away.

`python host_tools/plan.py ... | head` closes the pipe while the tool still prints; Python
then raises BrokenPipeError at the next write, and once more when it flushes stdout at exit.
A command that stops reading is not an error worth a traceback: the tools end quietly.
"""
import os
import sys


def silence_stdout():
    """Point stdout at /dev/null so the interpreter's final flush has nowhere to fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout already closed or not a real file
        pass


def run(main, argv=None):
    """main(argv), ending quietly with status 1 when the reader of stdout goes away."""
    try:
        return main(argv)
    except BrokenPipeError:
        silence_stdout()
        return 1

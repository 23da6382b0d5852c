"""Pipes between the importer's processes, widened so a checked or planned chunk (1-2 MB) crosses
in a few writes rather than sixteen 64 KB ones, each a switch between two processes that may
have to wait for a core (measured in bench/: the importer waited less for its chunks)."""

from __future__ import annotations

import fcntl
import sys
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext

__all__ = ["wide_pipe"]

_F_SETPIPE_SZ = 1031  # Linux
WANTED_BYTES = 4 * 1024 * 1024


def wide_pipe(context: BaseContext) -> tuple[Connection, Connection]:
    """A one-way pipe (receiving end, sending end) as ``context.Pipe(duplex=False)`` makes, with
    the kernel's buffer as large as the system allows up to 4 MB (Linux; elsewhere as it comes)."""
    receiver, sender = context.Pipe(duplex=False)
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/sys/fs/pipe-max-size") as limit:
                size = min(WANTED_BYTES, int(limit.read()))
            fcntl.fcntl(sender.fileno(), _F_SETPIPE_SZ, size)
        except (OSError, ValueError):  # not allowed here: the default buffer works, only slower
            pass
    return receiver, sender

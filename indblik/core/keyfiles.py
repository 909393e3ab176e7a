"""Key files that demo and test mode generate at first use (production keys come from files).

Written once, whatever the number of workers starting at the same moment: under a file lock,
to a temporary file with mode 0600, then renamed into place, so no process ever reads half a
key and two workers never each write a different one.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def generate_once(path: Path, make: Callable[[], bytes]) -> None:
    """Write ``make()`` to ``path`` (mode 0600) unless the file exists; safe across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return  # another worker generated it while we waited: use theirs
        data = make()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

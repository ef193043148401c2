"""One error type for every bad input a user can fix, and atomic output writing.

Every user-facing failure raises NnbuildError with the file, the place in it (line, layer, key)
and what was expected. The CLI and the SCons glue print str(error) as one paragraph and exit
non-zero; they never show a traceback for these.
"""
import contextlib
import os
import stat
import tempfile


class NnbuildError(Exception):
    """A problem with the user's input, stated so that they can act on it."""

    def __init__(self, message, file=None, where=None, expected=None):
        self.message = message
        self.file = str(file) if file is not None else None
        self.where = where
        self.expected = expected
        super().__init__(self.__str__())

    def __str__(self):
        place = ""
        if self.file:
            place = self.file
            if self.where:
                place += f", {self.where}"
            place += ": "
        elif self.where:
            place = f"{self.where}: "
        text = place + self.message
        if self.expected:
            text += f" (expected {self.expected})"
        return text


# Read once at import (single-threaded): os.umask can only be read by setting it, which would
# race with files created by other threads of a parallel (-j) build.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Write to a temp file beside `path` and rename it into place only on success.

    A failed or interrupted step therefore never leaves a half-written file that a later
    build step would trust.
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=directory)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs should look like any other file
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_outputs(paths):
    """Delete outputs of a failed step so that nothing stale looks successful."""
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.fspath(p))


def read_user_file(path, limit, what):
    """The bytes of a user's input file, with bounded work: a device or FIFO (/dev/zero, a pipe
    that never ends) is refused before it is opened, a file over `limit` bytes without reading
    past the limit. Failures are NnbuildErrors naming the file."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise NnbuildError(f"{what} is not a regular file", file=path, expected=f"a {what} file")
        with open(path, "rb") as f:   # read(n) allocates n bytes at once: ask for what is there
            data = f.read(min(st.st_size, limit) + 1)
    except FileNotFoundError:
        raise NnbuildError(f"{what} not found", file=path) from None
    except OSError as e:
        raise NnbuildError(f"cannot read {what}: {e.strerror}", file=path) from None
    if len(data) > limit:
        raise NnbuildError(f"{what} is larger than {limit} bytes", file=path,
                           expected=f"a {what} of at most {limit} bytes")
    return data

"""One error type for every bad input a user can fix, and atomic output writing.

Every user-facing failure raises NnbuildError with the file, the place in it (line, layer, key)
and what was expected. The CLI and the SCons glue print str(error) as one paragraph and exit
non-zero; they never show a traceback for these.
"""
import contextlib
import glob
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


def _temp_beside(path):
    """A new temp file beside `path`, after removing the temps a killed writer of `path` left
    (mkstemp's 8 random characters: the pattern matches this output's temps only)."""
    directory, name = os.path.split(path)
    directory = directory or "."
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(glob.escape(directory), ".tmp-" + "?" * 8 + "-" + glob.escape(name))):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(stale)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + name, dir=directory)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs should look like any other file
    return fd, tmp


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Write to a temp file beside `path` and rename it into place only on success.

    A failed or interrupted step therefore never leaves a half-written file that a later
    build step would trust.
    """
    path = os.fspath(path)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def staged_outputs(paths):
    """Yield a temp path beside each of `paths`; rename them all into place only on success.

    For a step whose outputs must stay one consistent set (an ELF and the .bin/.hex made from
    it): until every output is complete, none of them replaces anything; on failure the temps
    are removed.
    """
    paths = [os.fspath(p) for p in paths]
    temps = []
    try:
        for path in paths:
            fd, tmp = _temp_beside(path)
            os.close(fd)
            temps.append(tmp)
        yield list(temps)
        for tmp, path in zip(temps, paths):
            os.replace(tmp, path)
    except BaseException:
        remove_outputs(temps)
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

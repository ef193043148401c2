"""Read one array of a user's .npz (calibration/evaluation data) with bounded work.

np.load trusts the .npy header: a 262-byte file declaring 279 GB raises MemoryError, and a
broken zip gives whatever exception the layer below throws. Here the member's header (shape,
dtype) is checked against the zip's own size record and MAX_BYTES before anything is
allocated, values are read in chunks straight into the array, object arrays are never
unpickled, and every failure is one NnbuildError naming the file and the member.
"""
import math
import zipfile
import zlib

import numpy as np

from .errors import NnbuildError

MAX_BYTES = 1 << 30          # one array; a calibration set of 1 GiB is far beyond what is needed
_CHUNK = 1 << 24
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)   # what np.savez[_compressed] writes
_ERRORS = (OSError, EOFError, ValueError, TypeError, KeyError, SyntaxError, RecursionError,
           NotImplementedError, RuntimeError, OverflowError, zipfile.BadZipFile, zlib.error)


def read_array(path, name, dtypes=None, expected="a NumPy .npz file"):
    """The array `name` of the .npz at `path`. `dtypes`: the allowed dtypes (any byte order),
    checked from the header; None allows bool, integer and float arrays."""
    path = str(path)
    try:
        with zipfile.ZipFile(path) as z:
            info = _member(z, path, name, expected)
            with z.open(info) as f:
                return _read_npy(f, info, path, name, dtypes)
    except NnbuildError:
        raise
    except FileNotFoundError:
        raise NnbuildError("file not found", file=path, expected=expected) from None
    except _ERRORS as e:
        detail = f"{type(e).__name__}: {e}"
        detail = detail if len(detail) < 200 else detail[:200] + "..."
        raise NnbuildError(f"cannot read .npz (corrupt, truncated or not a zip file): {detail}", file=path,
                           expected=expected) from None


def _member(z, path, name, expected):
    arrays = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
    if not arrays:
        raise NnbuildError("the .npz holds no arrays", file=path, expected=expected)
    if name not in arrays:
        raise NnbuildError(f"no '{name}' array (found: {', '.join(arrays)})", file=path, expected=expected)
    info = z.getinfo(name + ".npy")
    if info.compress_type not in _COMPRESSIONS:
        raise NnbuildError(f"zip compression method {info.compress_type} is not supported", file=path,
                           where=name, expected="an .npz written by np.savez or np.savez_compressed")
    return info


def _read_npy(f, info, path, name, dtypes):
    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(f)
    else:
        raise NnbuildError(f".npy format version {version} is not supported", file=path, where=name,
                           expected="version 1.0 or 2.0")
    header_end = f.tell()
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or \
            dtype.kind not in "biuf" or (dtypes is not None and dtype.newbyteorder("=") not in
                                         [np.dtype(d) for d in dtypes]):
        want = ", ".join(str(np.dtype(d)) for d in dtypes) if dtypes else "a numeric dtype"
        raise NnbuildError(f"'{name}' has dtype {dtype}", file=path, where=name,
                           expected=f"{want} (object, text and structured arrays are refused)")
    if any(int(d) < 0 for d in shape):
        raise NnbuildError(f"'{name}' declares shape {shape}", file=path, where=name, expected="dims >= 0")
    nbytes = math.prod(int(d) for d in shape) * dtype.itemsize
    if nbytes > MAX_BYTES:
        raise NnbuildError(f"'{name}' declares shape {shape} of {dtype} = {nbytes} bytes", file=path,
                           where=name, expected=f"at most {MAX_BYTES} bytes per array")
    if info.file_size != header_end + nbytes:
        raise NnbuildError(f"'{name}' declares shape {shape} of {dtype} ({nbytes} bytes) but the member "
                           f"holds {info.file_size - header_end}", file=path, where=name,
                           expected="a complete, uncorrupted .npz")
    out = np.empty(nbytes, np.uint8)
    view, done = memoryview(out), 0
    while done < nbytes:
        got = f.readinto(view[done:done + _CHUNK])
        if not got:
            raise NnbuildError(f"'{name}' is truncated after {done} of {nbytes} bytes", file=path,
                               where=name, expected="a complete .npz")
        done += got
    f.read(1)   # reach the end of the member, where zipfile checks its CRC
    arr = out.view(dtype)
    arr = arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
    return np.ascontiguousarray(arr, dtype=dtype.newbyteorder("="))

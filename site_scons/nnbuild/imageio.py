"""Read the images a user hands to `scons run image=...` and `nnbuild` without extra packages.

Supported: PNG (own decoder over zlib: 8-bit gray, gray+alpha, RGB, RGBA and palette,
non-interlaced; alpha is dropped), binary PPM/PGM (P6/P5, maxval up to 255) and
"file.npz:index" (the `images` array of a data set, N x H x W x C uint8).
JPEG needs a real decoder (a dependency); it is refused with advice to convert to PNG.

read_image returns uint8 (H, W, 3) RGB or (H, W) grayscale. Every bad file raises NnbuildError
naming the file and what was wrong.
"""
import re
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import NnbuildError, atomic_write

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}   # colour type -> samples per pixel
_NPZ_REF = re.compile(r"^(?P<path>.+\.npz):(?P<index>-?\d+)$", re.IGNORECASE)


def read_image(path):
    """uint8 (H, W, 3) RGB or (H, W) gray from a PNG, PPM/PGM or "data.npz:index"."""
    path = str(path)
    m = _NPZ_REF.match(path)
    if m:
        return _read_npz(m.group("path"), int(m.group("index")))
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise NnbuildError(f"cannot read image: {e.strerror}", file=path) from None
    if data.startswith(PNG_SIGNATURE):
        return _decode_png(data, path)
    if data[:2] in (b"P5", b"P6"):
        return _decode_pnm(data, path)
    if data[:3] == b"\xff\xd8\xff":
        raise NnbuildError("JPEG images are not supported (no JPEG decoder without an extra dependency)",
                           file=path, expected="a PNG, PPM/PGM or .npz:index -- convert it to PNG first")
    raise NnbuildError("not a supported image file", file=path,
                       expected="PNG, binary PPM/PGM (P6/P5) or data.npz:index")


def write_png(path, img, filters=(0,)):
    """Write uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) as an 8-bit PNG, atomically.

    `filters` are the PNG row filter types used in turn for successive rows (0..4), so tests can
    exercise every filter of the decoder."""
    with atomic_write(path, "wb") as f:
        f.write(png_bytes(img, filters))


def png_bytes(img, filters=(0,)):
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3, 4)):
        raise ValueError(f"write_png needs uint8 (H, W[, 1|3|4]), got {img.shape} {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    h, w = img.shape[:2]
    channels = 1 if img.ndim == 2 else img.shape[2]
    ctype = {1: 0, 3: 2, 4: 6}[channels]
    rows = img.reshape(h, w * channels).astype(np.int32)
    raw = bytearray()
    prev = np.zeros(w * channels, np.int32)
    for y in range(h):
        ftype = filters[y % len(filters)]
        raw.append(ftype)
        raw += _filter_row(ftype, rows[y], prev, channels).astype(np.uint8).tobytes()
        prev = rows[y]
    ihdr = struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0)
    return (PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + _chunk(b"IEND", b""))


# -- PNG -----------------------------------------------------------------------------------------

def _chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_chunks(data, path):
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        payload = data[pos + 8:pos + 8 + length]
        if len(payload) != length or pos + 12 + length > len(data):
            break
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + payload) != crc:
            raise NnbuildError(f"PNG chunk {kind.decode('latin-1')!r} has a bad CRC (corrupt file)",
                               file=path, where=f"byte {pos}")
        yield kind, payload
        if kind == b"IEND":
            return
        pos += 12 + length
    raise NnbuildError("PNG file is truncated (no IEND chunk)", file=path)


def _decode_png(data, path):
    header, palette, idat = None, None, []
    for kind, payload in _png_chunks(data, path):
        if kind == b"IHDR":
            if len(payload) != 13:
                raise NnbuildError("PNG IHDR chunk has a wrong length", file=path, expected="13 bytes")
            header = struct.unpack(">IIBBBBB", payload)
        elif kind == b"PLTE":
            palette = np.frombuffer(payload, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(payload)
    if header is None:
        raise NnbuildError("PNG file has no IHDR chunk", file=path)
    w, h, depth, ctype, _compression, _filter, interlace = header
    if ctype not in _PNG_CHANNELS:
        raise NnbuildError(f"PNG colour type {ctype} is invalid", file=path, expected="0, 2, 3, 4 or 6")
    if depth != 8:
        raise NnbuildError(f"PNG bit depth {depth} is not supported", file=path,
                           expected="8-bit PNG (convert 16-bit or 1/2/4-bit images to 8 bits)")
    if interlace:
        raise NnbuildError("interlaced (Adam7) PNG is not supported", file=path,
                           expected="a non-interlaced PNG (re-save it without interlacing)")
    if w < 1 or h < 1:
        raise NnbuildError(f"PNG size {w}x{h} is empty", file=path)
    if ctype == 3 and palette is None:
        raise NnbuildError("palette PNG has no PLTE chunk", file=path)
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise NnbuildError(f"PNG image data cannot be decompressed: {e}", file=path) from None
    bpp = _PNG_CHANNELS[ctype]
    stride = w * bpp
    if len(raw) < h * (stride + 1):
        raise NnbuildError(f"PNG image data has {len(raw)} bytes", file=path,
                           expected=f"{h * (stride + 1)} bytes for {w}x{h}")
    rows = np.frombuffer(raw, np.uint8)[:h * (stride + 1)].reshape(h, stride + 1)
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        ftype = int(rows[y, 0])
        if ftype > 4:
            raise NnbuildError(f"PNG row filter type {ftype} is invalid", file=path, where=f"row {y}",
                               expected="0..4")
        prev = _unfilter_row(ftype, rows[y, 1:].astype(np.int32), prev, bpp)
        out[y] = prev
    pix = out.reshape(h, w, bpp)
    if ctype == 3:
        if pix.max() >= len(palette):
            raise NnbuildError("palette PNG uses an index beyond its palette", file=path)
        return palette[pix[..., 0]]
    if ctype in (0, 4):
        return np.ascontiguousarray(pix[..., 0])
    return np.ascontiguousarray(pix[..., :3])


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _unfilter_row(ftype, row, prev, bpp):
    """Undo a PNG row filter (None, Sub, Up, Average, Paeth) -> int32 values 0..255."""
    if ftype == 0:
        return row
    if ftype == 2:
        return (row + prev) & 0xFF
    if ftype == 1:  # running sum per channel
        return (np.cumsum(row.reshape(-1, bpp), axis=0) & 0xFF).reshape(-1).astype(np.int32)
    out = row.copy()
    n = len(row)
    if ftype == 3:
        for i in range(n):
            left = out[i - bpp] if i >= bpp else 0
            out[i] = (out[i] + ((left + prev[i]) >> 1)) & 0xFF
    else:
        for i in range(n):
            left = out[i - bpp] if i >= bpp else 0
            upleft = prev[i - bpp] if i >= bpp else 0
            out[i] = (out[i] + _paeth(int(left), int(prev[i]), int(upleft))) & 0xFF
    return out


def _filter_row(ftype, row, prev, bpp):
    """Apply a PNG row filter (the encoder side of _unfilter_row)."""
    left = np.concatenate([np.zeros(bpp, np.int32), row[:-bpp]])
    upleft = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
    if ftype == 0:
        pred = np.zeros_like(row)
    elif ftype == 1:
        pred = left
    elif ftype == 2:
        pred = prev
    elif ftype == 3:
        pred = (left + prev) >> 1
    elif ftype == 4:
        pred = np.array([_paeth(int(a), int(b), int(c)) for a, b, c in zip(left, prev, upleft)], np.int32)
    else:
        raise ValueError(f"PNG filter type must be 0..4, got {ftype}")
    return (row - pred) & 0xFF


# -- PPM / PGM -----------------------------------------------------------------------------------

def _decode_pnm(data, path):
    """Binary P6 (RGB) / P5 (gray); header tokens may be separated by whitespace and # comments."""
    tokens, pos = [], 2
    while len(tokens) < 3:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            while pos < len(data) and data[pos:pos + 1] not in (b"\n", b"\r"):
                pos += 1
            continue
        start = pos
        while pos < len(data) and data[pos:pos + 1].isdigit():
            pos += 1
        if start == pos:
            raise NnbuildError("PPM/PGM header is malformed", file=path, where=f"byte {pos}",
                               expected="width, height and maxval as decimal numbers")
        tokens.append(int(data[start:pos]))
    pos += 1  # the single whitespace byte after maxval
    w, h, maxval = tokens
    if w < 1 or h < 1:
        raise NnbuildError(f"PPM/PGM size {w}x{h} is empty", file=path)
    if not 1 <= maxval <= 255:
        raise NnbuildError(f"PPM/PGM maxval {maxval} is not supported", file=path,
                           expected="maxval 1..255 (8-bit samples)")
    channels = 3 if data[:2] == b"P6" else 1
    need = w * h * channels
    body = np.frombuffer(data[pos:pos + need], np.uint8)
    if body.size != need:
        raise NnbuildError(f"PPM/PGM pixel data has {body.size} bytes", file=path,
                           expected=f"{need} bytes for {w}x{h}")
    if maxval != 255:
        body = ((body.astype(np.int32) * 255 + maxval // 2) // maxval).clip(0, 255).astype(np.uint8)
    return body.reshape((h, w, 3) if channels == 3 else (h, w)).copy()


# -- data set entries ----------------------------------------------------------------------------

def _read_npz(path, index):
    try:
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z.files:
                raise NnbuildError("data set has no 'images' array", file=path,
                                   expected="an .npz with images N x H x W x C uint8")
            images = z["images"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise NnbuildError(f"cannot read data set: {e}", file=path) from None
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise NnbuildError(f"'images' is {images.dtype} {images.shape}", file=path,
                           expected="uint8 N x H x W x C (or N x H x W)")
    if not -len(images) <= index < len(images):
        raise NnbuildError(f"image index {index} is out of range", file=path,
                           where=f"index {index}", expected=f"0..{len(images) - 1}")
    img = images[index]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[2] != 3:
        raise NnbuildError(f"images have {img.shape[2]} channels", file=path, expected="1 or 3")
    return np.ascontiguousarray(img)

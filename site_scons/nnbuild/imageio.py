"""Read the images a user hands to `scons run image=...` and `nnbuild`.

Supported: PNG (every colour type: gray, gray+alpha, RGB, RGBA, palette; 1..16-bit; interlaced;
decoded by Pillow), JPEG (Pillow), binary PPM/PGM (P6/P5, maxval up to 255) and "file.npz:index"
(the `images` array of a data set, N x H x W x C uint8). Alpha is dropped; 16-bit samples keep
their high byte (as Pillow does for 16-bit colour).

Images come from outside, so the work is bounded: the size in the header is checked (at most
MAX_DIM = 4096 pixels a side, as the C preprocessing) before anything is decoded, the PNG data
stream is inflated at most to the size the header implies, a JPEG may have at most 64 scans, and
files over MAX_FILE_BYTES are refused unread. A 40000 x 40000 PNG is refused from its 33 first
bytes.

read_image returns uint8 (H, W, 3) RGB or (H, W) grayscale. Every bad file raises NnbuildError
naming the file and what was wrong.
"""
import io
import re
import struct
import zlib

import numpy as np

from . import npzfile
from .errors import NnbuildError, atomic_write, read_user_file
from .preprocess import MAX_DIM

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}   # colour type -> samples per pixel
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
MAX_FILE_BYTES = 256 << 20      # a 4096 x 4096 image needs less, even uncompressed at 16 bits
_NPZ_REF = re.compile(r"^(?P<path>.+\.npz):(?P<index>-?\d+)$", re.IGNORECASE)


def read_image(path):
    """uint8 (H, W, 3) RGB or (H, W) gray from a PNG, PPM/PGM or "data.npz:index"."""
    path = str(path)
    m = _NPZ_REF.match(path)
    if m:
        return _read_npz(m.group("path"), int(m.group("index")))
    data = read_user_file(path, MAX_FILE_BYTES, "image")
    if data.startswith(PNG_SIGNATURE):
        return _decode_png(data, path)
    if data[:2] in (b"P5", b"P6"):
        return _decode_pnm(data, path)
    if data[:3] == b"\xff\xd8\xff":
        return _decode_jpeg(data, path)
    raise NnbuildError("not a supported image file", file=path,
                       expected="PNG, JPEG, binary PPM/PGM (P6/P5) or data.npz:index")


def _check_size(w, h, path, what):
    if w < 1 or h < 1:
        raise NnbuildError(f"{what} size {w}x{h} is empty", file=path)
    if w > MAX_DIM or h > MAX_DIM:
        raise NnbuildError(f"{what} declares {w}x{h} pixels", file=path,
                           expected=f"at most {MAX_DIM}x{MAX_DIM} (the C preprocessing's limit); "
                                    f"scale the image down first")


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
            _check_header(header, path)
        elif kind == b"PLTE":
            if len(payload) % 3 or not 3 <= len(payload) <= 768:
                raise NnbuildError(f"PNG palette has {len(payload)} bytes", file=path,
                                   expected="1..256 RGB entries (a multiple of 3 bytes)")
            palette = np.frombuffer(payload, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(payload)
    if header is None:
        raise NnbuildError("PNG file has no IHDR chunk", file=path)
    w, h, depth, ctype, _compression, _filter, interlace = header
    if ctype == 3 and palette is None:
        raise NnbuildError("palette PNG has no PLTE chunk", file=path)
    if not interlace:
        _check_rows(b"".join(idat), w, h, depth * _PNG_CHANNELS[ctype], path)
    pix = _pillow_decode(data, path, "PNG")
    if ctype == 3:
        if pix.max() >= len(palette):   # Pillow would show such pixels black
            raise NnbuildError("palette PNG uses an index beyond its palette", file=path)
        return palette[pix]
    if pix.dtype != np.uint8:           # 16-bit gray: keep the high byte, like Pillow's 16-bit RGB
        pix = (pix.astype(np.uint32) >> 8).astype(np.uint8)
    if ctype in (0, 4):
        return np.ascontiguousarray(pix if pix.ndim == 2 else pix[..., 0])
    return np.ascontiguousarray(pix[..., :3])


def _check_header(header, path):
    w, h, depth, ctype, compression, filter_method, interlace = header
    if ctype not in _PNG_CHANNELS:
        raise NnbuildError(f"PNG colour type {ctype} is invalid", file=path, expected="0, 2, 3, 4 or 6")
    if depth not in _PNG_DEPTHS[ctype]:
        raise NnbuildError(f"PNG bit depth {depth} is invalid for colour type {ctype}", file=path,
                           expected="one of " + ", ".join(map(str, _PNG_DEPTHS[ctype])))
    if compression or filter_method or interlace > 1:
        raise NnbuildError(f"PNG header has compression {compression}, filter method {filter_method}, "
                           f"interlace {interlace}", file=path, expected="0, 0 and 0 or 1")
    _check_size(w, h, path, "PNG")


def _check_rows(stream, w, h, bits_per_pixel, path):
    """Inflate at most what the header implies and check every row's filter byte, so that a
    short stream or a bad filter gets a precise message (Pillow calls both 'truncated')."""
    stride = (w * bits_per_pixel + 7) // 8
    need = h * (stride + 1)
    try:
        raw = zlib.decompressobj().decompress(stream, need)
    except zlib.error as e:
        raise NnbuildError(f"PNG image data cannot be decompressed: {e}", file=path) from None
    if len(raw) < need:
        raise NnbuildError(f"PNG image data has {len(raw)} bytes", file=path,
                           expected=f"{need} bytes for {w}x{h}")
    filters = np.frombuffer(raw, np.uint8).reshape(h, stride + 1)[:, 0]
    bad = np.flatnonzero(filters > 4)
    if bad.size:
        raise NnbuildError(f"PNG row filter type {filters[bad[0]]} is invalid", file=path,
                           where=f"row {bad[0]}", expected="0..4")


def _pillow_decode(data, path, fmt):
    """Decode with Pillow after our own header checks; its exception types are not a stable
    contract, so any failure becomes one NnbuildError (except running out of memory)."""
    from PIL import Image, UnidentifiedImageError  # only needed for PNG/JPEG

    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as im:
            _check_size(im.width, im.height, path, fmt)
            if im.mode not in ("1", "L", "LA", "I", "I;16", "I;16B", "P", "RGB", "RGBA"):
                im = im.convert("RGB")
            if im.mode == "1":
                im = im.convert("L")
            return np.asarray(im)
    except (NnbuildError, MemoryError):
        raise
    except UnidentifiedImageError:
        raise NnbuildError(f"{fmt} file has an unreadable header", file=path,
                           expected=f"a valid {fmt} file") from None
    except Exception as e:  # noqa: BLE001 -- see docstring
        raise NnbuildError(f"{fmt} image data is corrupt or truncated: {e}", file=path,
                           expected=f"a valid {fmt} file") from None


MAX_JPEG_SCANS = 64   # libjpeg's progressive scripts use about 10; each scan is a full decode pass


def _decode_jpeg(data, path):
    scans = _jpeg_scans(data)
    if scans > MAX_JPEG_SCANS:   # a small progressive file with thousands of scans is a CPU bomb
        raise NnbuildError(f"JPEG file has {scans} scans", file=path,
                           expected=f"at most {MAX_JPEG_SCANS} (re-save it as a baseline JPEG or PNG)")
    pix = _pillow_decode(data, path, "JPEG")
    return np.ascontiguousarray(pix if pix.ndim == 2 else pix[..., :3])


def _jpeg_scans(data):
    """Start-of-scan markers, counted from the segment structure (stops early at anything odd:
    Pillow then reports the corruption)."""
    pos, scans = 2, 0
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:                       # fill byte
            pos += 1
            continue
        if marker == 0xD9:                       # end of image
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker != 0xDA:
            continue
        scans += 1
        while True:                              # entropy-coded data ends at a real marker
            pos = data.find(b"\xff", pos)
            if pos < 0 or pos + 1 >= len(data):
                return scans
            if data[pos + 1] not in _JPEG_IN_SCAN:
                break
            pos += 1
    return scans


_JPEG_IN_SCAN = frozenset([0x00, 0xFF, *range(0xD0, 0xD8)])   # stuffed 0xFF, fill, restart markers


def _filter_row(ftype, row, prev, bpp):
    """Apply a PNG row filter (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth) to one row."""
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
        p = left + prev - upleft   # Paeth: the neighbour closest to p, ties to left, then up
        pa, pb, pc = np.abs(p - left), np.abs(p - prev), np.abs(p - upleft)
        pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
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
        if start == pos or pos - start > 9:
            raise NnbuildError("PPM/PGM header is malformed", file=path, where=f"byte {pos}",
                               expected="width, height and maxval as decimal numbers (at most 9 digits)")
        tokens.append(int(data[start:pos]))
    pos += 1  # the single whitespace byte after maxval
    w, h, maxval = tokens
    _check_size(w, h, path, "PPM/PGM")
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
    images = npzfile.read_array(path, "images", dtypes=(np.uint8,),
                                expected="an .npz with images N x H x W x C uint8")
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

"""nnbuild.imageio: the PNG decoder (every filter, colour type), PPM/PGM, npz:index, and the
errors a user sees for files that are not (supported) images."""
import struct
import zlib

import numpy as np
import pytest

from nnbuild.errors import NnbuildError
from nnbuild.imageio import png_bytes, read_image, write_png
from nnbuild.ir import npz_bytes


def chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_file(tmp_path, w, h, ctype, raw_rows, depth=8, interlace=0, extra=()):
    """A PNG assembled by hand from already filtered rows (independent of write_png)."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + b"".join(extra)
            + chunk(b"IDAT", zlib.compress(raw_rows)) + chunk(b"IEND", b""))
    path = tmp_path / "hand.png"
    path.write_bytes(data)
    return path


def test_hand_filtered_png_rgb(tmp_path):
    # 2x2 RGB, pixels [[(10,20,30),(15,25,35)], [(20,30,40),(5,5,5)]]
    # row 0 Sub: 10 20 30 | 15-10 25-20 35-30 ; row 1 Paeth: a=left, b=up, c=upleft
    #   pixel (0,1): a=c=0 -> predictor b = up (10,20,30): 10 10 10
    #   pixel (1,1): a=(20,30,40) b=(15,25,35) c=(10,20,30): p=a+b-c=(25,35,45), closest is a -> 5-20 etc.
    rows = bytes([1, 10, 20, 30, 5, 5, 5,
                  4, 10, 10, 10, (5 - 20) & 255, (5 - 30) & 255, (5 - 40) & 255])
    img = read_image(png_file(tmp_path, 2, 2, 2, rows))
    assert img.dtype == np.uint8 and img.shape == (2, 2, 3)
    assert img.tolist() == [[[10, 20, 30], [15, 25, 35]], [[20, 30, 40], [5, 5, 5]]]


def test_hand_filtered_png_gray_up_average(tmp_path):
    # 3x2 gray: row 0 None [100, 50, 200]; row 1 Up +1 -> [101, 51, 201] ; then Average on a
    # third row: predictor floor((left + up) / 2): pixel0 (0+101)/2=50, value 60 -> raw 10
    rows = bytes([0, 100, 50, 200, 2, 1, 1, 1, 3, 10, (70 - (60 + 51) // 2) & 255, (80 - (70 + 201) // 2) & 255])
    img = read_image(png_file(tmp_path, 3, 3, 0, rows))
    assert img.shape == (3, 3)
    assert img.tolist() == [[100, 50, 200], [101, 51, 201], [60, 70, 80]]


def test_palette_and_alpha_pngs(tmp_path):
    plte = chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255]))
    img = read_image(png_file(tmp_path, 3, 1, 3, bytes([0, 2, 0, 1]), extra=[plte]))
    assert img.tolist() == [[[0, 0, 255], [255, 0, 0], [0, 255, 0]]]
    with pytest.raises(NnbuildError, match="beyond its palette"):
        read_image(png_file(tmp_path, 1, 1, 3, bytes([0, 3]), extra=[plte]))
    # gray + alpha and RGBA: alpha dropped
    assert read_image(png_file(tmp_path, 2, 1, 4, bytes([0, 7, 255, 9, 0]))).tolist() == [[7, 9]]
    assert read_image(png_file(tmp_path, 1, 1, 6, bytes([0, 1, 2, 3, 4]))).tolist() == [[[1, 2, 3]]]


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (9, 4, 3), (3, 6, 4), (8, 8, 1)])
def test_write_read_roundtrip_every_filter(tmp_path, shape):
    img = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / "rt.png"
    write_png(path, img, filters=(0, 1, 2, 3, 4))
    got = read_image(path)
    want = img[..., :3] if img.ndim == 3 and img.shape[2] == 4 else img
    want = want[..., 0] if want.ndim == 3 and want.shape[2] == 1 else want
    np.testing.assert_array_equal(got, want)


def test_pnm(tmp_path):
    p6 = tmp_path / "a.ppm"
    p6.write_bytes(b"P6\n# a comment\n2 1\n255\n" + bytes([1, 2, 3, 250, 251, 252]))
    assert read_image(p6).tolist() == [[[1, 2, 3], [250, 251, 252]]]
    p5 = tmp_path / "a.pgm"
    p5.write_bytes(b"P5 3 1 15 " + bytes([0, 7, 15]))
    assert read_image(p5).tolist() == [[0, 119, 255]]   # maxval 15 scaled to 255, rounded
    p16 = tmp_path / "b.pgm"
    p16.write_bytes(b"P5 1 1 65535\n\x00\x01")
    with pytest.raises(NnbuildError, match="maxval 65535"):
        read_image(p16)
    short = tmp_path / "c.ppm"
    short.write_bytes(b"P6 2 2 255\n" + bytes(5))
    with pytest.raises(NnbuildError, match=r"expected 12 bytes"):
        read_image(short)


def test_npz_index(tmp_path):
    images = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    path = tmp_path / "d.npz"
    path.write_bytes(npz_bytes({"images": images, "labels": np.array([0, 1])}))
    np.testing.assert_array_equal(read_image(f"{path}:1"), images[1])
    gray = tmp_path / "g.npz"
    gray.write_bytes(npz_bytes({"images": images[..., :1]}))
    np.testing.assert_array_equal(read_image(f"{gray}:0"), images[0, :, :, 0])
    with pytest.raises(NnbuildError, match="index 2 is out of range") as e:
        read_image(f"{path}:2")
    assert str(path) in str(e.value)
    nodata = tmp_path / "n.npz"
    nodata.write_bytes(npz_bytes({"x": images}))
    with pytest.raises(NnbuildError, match="no 'images'"):
        read_image(f"{nodata}:0")


def test_bad_files_name_the_file(tmp_path):
    cases = {
        "photo.jpg": (b"\xff\xd8\xff\xe0" + bytes(20), "JPEG file has an unreadable header"),
        "notes.png": (b"hello, not an image", "not a supported image file"),
        "empty.ppm": (b"", "not a supported image file"),
        "bad.ppm": (b"P6 x y 255\n", "header is malformed"),
    }
    for name, (data, pattern) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(NnbuildError, match=pattern) as e:
            read_image(path)
        assert str(e.value).startswith(str(path))
    with pytest.raises(NnbuildError, match="image not found") as e:
        read_image(tmp_path / "missing.png")
    good = png_bytes(np.zeros((2, 2), np.uint8))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(good[:40] + bytes([good[40] ^ 1]) + good[41:])
    with pytest.raises(NnbuildError, match="bad CRC"):
        read_image(corrupt)
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good[:-12])
    with pytest.raises(NnbuildError, match="truncated"):
        read_image(trunc)


def test_unsupported_png_variants(tmp_path):
    with pytest.raises(NnbuildError, match="bit depth 16 is invalid for colour type 3"):
        read_image(png_file(tmp_path, 1, 1, 3, bytes([0, 5, 5]), depth=16))
    with pytest.raises(NnbuildError, match="filter type 7 is invalid"):
        read_image(png_file(tmp_path, 1, 1, 0, bytes([7, 5])))
    with pytest.raises(NnbuildError, match="expected 6 bytes"):
        read_image(png_file(tmp_path, 2, 2, 0, bytes([0, 5, 5])))


# -- what Pillow adds, and bounded work on hostile images ---------------------------------------

def test_png_depths_and_interlace(tmp_path):
    # 16-bit: the high byte of each sample; gray+alpha stays gray
    assert read_image(png_file(tmp_path, 2, 1, 0, bytes([0, 1, 2, 255, 4]), depth=16)).tolist() == [[1, 255]]
    rgb16 = bytes([0, 10, 1, 20, 2, 30, 3])
    assert read_image(png_file(tmp_path, 1, 1, 2, rgb16, depth=16)).tolist() == [[[10, 20, 30]]]
    la16 = bytes([0, 9, 1, 255, 255])
    assert read_image(png_file(tmp_path, 1, 1, 4, la16, depth=16)).tolist() == [[9]]
    # 1/2/4-bit gray scale to 0..255; low-depth palettes index the palette
    assert read_image(png_file(tmp_path, 3, 1, 0, bytes([0, 0b10100000]), depth=1)).tolist() == [[255, 0, 255]]
    assert read_image(png_file(tmp_path, 2, 1, 0, bytes([0, 0b01110000]), depth=2)).tolist() == [[85, 255]]
    assert read_image(png_file(tmp_path, 2, 1, 0, bytes([0, 0x5F]), depth=4)).tolist() == [[85, 255]]
    plte = chunk(b"PLTE", bytes([1, 2, 3, 4, 5, 6]))
    trns = chunk(b"tRNS", bytes([0]))
    assert read_image(png_file(tmp_path, 2, 1, 3, bytes([0, 0b01000000]), depth=2, extra=[plte, trns])).tolist() \
        == [[[4, 5, 6], [1, 2, 3]]]
    # Adam7: a 1x1 image is pass 1 alone
    assert read_image(png_file(tmp_path, 1, 1, 0, bytes([0, 77]), interlace=1)).tolist() == [[77]]


def test_jpeg(tmp_path):
    from PIL import Image

    img = np.zeros((16, 24, 3), np.uint8)
    img[:, :12] = (200, 40, 40)
    Image.fromarray(img).save(tmp_path / "a.jpg", quality=95)
    got = read_image(tmp_path / "a.jpg")
    np.testing.assert_array_equal(got, np.asarray(Image.open(tmp_path / "a.jpg")))
    assert got.shape == (16, 24, 3) and np.abs(got.astype(int) - img).mean() < 3
    Image.fromarray(img[..., 0]).save(tmp_path / "g.jpg")
    assert read_image(tmp_path / "g.jpg").shape == (16, 24)
    Image.fromarray(img).save(tmp_path / "p.jpg", progressive=True)
    np.testing.assert_array_equal(read_image(tmp_path / "p.jpg"), np.asarray(Image.open(tmp_path / "p.jpg")))
    # a progressive JPEG whose last scan is repeated 1000 times: every scan is a full pass
    prog = (tmp_path / "p.jpg").read_bytes()
    last = prog.rindex(b"\xff\xda")
    (tmp_path / "scans.jpg").write_bytes(prog[:last] + prog[last:-2] * 1000 + b"\xff\xd9")
    with pytest.raises(NnbuildError, match=r"scans\.jpg: JPEG file has 10\d\d scans \(expected at most 64"):
        read_image(tmp_path / "scans.jpg")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "a.jpg").read_bytes()[:200])
    with pytest.raises(NnbuildError, match=r"cut\.jpg: JPEG image data is corrupt or truncated"):
        read_image(tmp_path / "cut.jpg")


def test_huge_declared_sizes_are_refused_from_the_header(tmp_path):
    import time

    # 40000 x 40000 RGB: 1.5 MB of zlib zeros would inflate to 4.8 GB
    t0 = time.perf_counter()
    raw = zlib.compressobj(9)
    stream = b"".join(raw.compress(bytes(1 << 20)) for _ in range(8)) + raw.flush()
    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", stream) + chunk(b"IEND", b""))
    with pytest.raises(NnbuildError, match=r"big\.png: PNG declares 40000x40000 pixels \(expected at most 4096x4096"):
        read_image(big)
    ppm = tmp_path / "big.ppm"
    ppm.write_bytes(b"P6 5000 10 255\n" + bytes(30))
    with pytest.raises(NnbuildError, match=r"PPM/PGM declares 5000x10 pixels"):
        read_image(ppm)
    digits = tmp_path / "digits.pgm"
    digits.write_bytes(b"P5 " + b"9" * 5000 + b" 1 255\n")
    with pytest.raises(NnbuildError, match="header is malformed"):
        read_image(digits)
    plte = chunk(b"PLTE", bytes(4))
    with pytest.raises(NnbuildError, match="palette has 4 bytes"):
        read_image(png_file(tmp_path, 1, 1, 3, bytes([0, 0]), extra=[plte]))
    assert time.perf_counter() - t0 < 5


def _filtered_png(w, h, channels, rows, ctype):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 1))
            + chunk(b"IEND", b""))


def test_decoding_is_fast(tmp_path):
    """4096x4096 Paeth-filtered gray in < 2 s; a 1920x1080 RGB 'photo' (every filter) in < 0.5 s."""
    import time

    rng = np.random.default_rng(3)
    rows = np.zeros((4096, 4097), np.uint8)
    rows[:, 0] = 4
    rows[::7, 1:] = rng.integers(0, 4, (len(rows[::7]), 4096))
    (tmp_path / "paeth.png").write_bytes(_filtered_png(4096, 4096, 1, rows.tobytes(), 0))
    rows = rng.integers(0, 8, (1080, 1920 * 3 + 1), dtype=np.uint8)
    rows[:, 0] = np.arange(1080) % 5
    (tmp_path / "photo.png").write_bytes(_filtered_png(1920, 1080, 3, rows.tobytes(), 2))
    for name, limit in (("paeth.png", 2.0), ("photo.png", 0.5)):
        read_image(tmp_path / name)   # warm up the import of Pillow
        t0 = time.perf_counter()
        img = read_image(tmp_path / name)
        took = time.perf_counter() - t0
        assert took < limit, f"{name}: {took:.2f} s"
    assert img.shape == (1080, 1920, 3)


def test_paeth_decoding_matches_the_writer(tmp_path):
    img = np.random.default_rng(9).integers(0, 256, (37, 41, 3), dtype=np.uint8)
    write_png(tmp_path / "p.png", img, filters=(4, 3, 1, 2, 0))
    np.testing.assert_array_equal(read_image(tmp_path / "p.png"), img)

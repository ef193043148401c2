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
        "photo.jpg": (b"\xff\xd8\xff\xe0" + bytes(20), "JPEG.*convert it to PNG"),
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
    with pytest.raises(NnbuildError, match="cannot read image") as e:
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
    with pytest.raises(NnbuildError, match="interlaced"):
        read_image(png_file(tmp_path, 1, 1, 0, bytes([0, 5]), interlace=1))
    with pytest.raises(NnbuildError, match="bit depth 16"):
        read_image(png_file(tmp_path, 1, 1, 0, bytes([0, 5, 5]), depth=16))
    with pytest.raises(NnbuildError, match="filter type 7"):
        read_image(png_file(tmp_path, 1, 1, 0, bytes([7, 5])))
    with pytest.raises(NnbuildError, match="expected 6 bytes"):
        read_image(png_file(tmp_path, 2, 2, 0, bytes([0, 5, 5])))

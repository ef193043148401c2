"""Load calibration/evaluation images as uint8 (N, H, W, C) in the model's channel order.

Sources: an .npz with `images` (N×H×W×C uint8 RGB, or N×H×W grayscale), or a folder of
PNG/PPM/PGM/JPEG files (read in sorted file-name order, decoded by nnbuild.imageio). Images
must already have the model's size: resizing is the application's preprocessing, not calibration.
"""
import os
import zipfile

import numpy as np

from . import imageio, npzfile
from .errors import NnbuildError

ORDERS = ("RGB", "BGR", "GRAY")
IMAGE_EXTS = (".png", ".ppm", ".pgm", ".pnm", ".jpg", ".jpeg")


def load_images(path, shape, samples=None, channel_order="RGB"):
    """The first `samples` images of `path` (all when None) as uint8 (N, H, W, C).

    `shape` is the model input (H, W, C); `channel_order` the model's (RGB, BGR or GRAY)."""
    path = os.fspath(path)
    h, w, c = (int(v) for v in shape)
    order = (channel_order or "RGB").upper()
    if order not in ORDERS:
        raise NnbuildError(f"unknown channel order '{channel_order}'", file=path, expected=" or ".join(ORDERS))
    if samples is not None and (int(samples) != samples or samples < 1):
        raise NnbuildError(f"samples = {samples}", file=path, expected="a positive integer")
    if not os.path.exists(path):
        raise NnbuildError("calibration data not found", file=path,
                           expected="an .npz with 'images' or a folder of PNG/PPM images")
    if os.path.isdir(path):
        rgb = _load_folder(path, samples)
    else:
        rgb = _load_npz(path, samples)
    if rgb.shape[1:3] != (h, w):
        raise NnbuildError(f"images are {rgb.shape[1]}x{rgb.shape[2]} pixels", file=path,
                           expected=f"{h}x{w} (the model input; resize the data set beforehand)")
    return convert(rgb, c, order, path)


def convert(images, channels, order, path="images"):
    """RGB (or 1-channel gray) uint8 (N, H, W, 3|1) -> the model's channel order/count."""
    src_c = images.shape[3]
    if order == "GRAY" or channels == 1:
        if src_c == 1:
            out = images
        else:
            out = rgb_to_gray(images)[..., None]
    elif src_c == 1:
        out = np.repeat(images, 3, axis=3)
    else:
        out = images[..., ::-1] if order == "BGR" else images
    if out.shape[3] != channels:
        raise NnbuildError(f"images have {src_c} channels, the model wants {channels} ({order})",
                           file=path, expected="RGB or grayscale images matching the model input")
    return np.ascontiguousarray(out, dtype=np.uint8)


def rgb_to_gray(rgb):
    """Integer luma (77 R + 150 G + 29 B + 128) >> 8, the same formula as the firmware."""
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return ((77 * r + 150 * g + 29 * b + 128) >> 8).astype(np.uint8)


# -- .npz -----------------------------------------------------------------------------------------

def _load_npz(path, samples):
    # npzfile checks the declared shape/dtype before reading (a tiny file can declare terabytes)
    arr = npzfile.read_array(path, "images", dtypes=(np.uint8,),
                             expected="an .npz with 'images' N×H×W×C uint8")
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[3] not in (1, 3):
        raise NnbuildError(f"'images' has shape {arr.shape}", file=path, where="images",
                           expected="N×H×W×3 (RGB) or N×H×W (grayscale)")
    if samples is not None:
        if len(arr) < samples:
            raise NnbuildError(f"only {len(arr)} images, {samples} requested", file=path, where="images",
                               expected=f"at least {samples} images")
        arr = arr[:samples]
    return arr


# -- folders of images ----------------------------------------------------------------------------

def source_files(path):
    """The files calibration data at `path` consists of (the build's dependencies): the .npz, or
    every image of a folder, in the order they are read."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return [os.path.join(path, n) for n in _image_names(path)]
    return [path]


def _image_names(path):
    return sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTS)
                  and os.path.isfile(os.path.join(path, n)))


def _load_folder(path, samples):
    names = _image_names(path)
    if not names:
        raise NnbuildError("no images in folder", file=path, expected="*.png, *.ppm, *.pgm or *.jpg files")
    if samples is not None:
        if len(names) < samples:
            raise NnbuildError(f"only {len(names)} images, {samples} requested", file=path,
                               expected=f"at least {samples} images")
        names = names[:samples]
    images = [_as_hwc(imageio.read_image(os.path.join(path, n))) for n in names]
    first = images[0].shape
    for n, im in zip(names, images):
        if im.shape != first:
            raise NnbuildError(f"image is {im.shape[1]}x{im.shape[0]}x{im.shape[2]}", file=os.path.join(path, n),
                               expected=f"the size of the first image {first[1]}x{first[0]}x{first[2]}")
    return np.stack(images)


def _as_hwc(img):
    return img[..., None] if img.ndim == 2 else img


EVAL_EXPECTED = "an .npz with 'images' (N×H×W×C uint8) and 'labels' (N integer class indices)"


def load_eval_data(path, graph, limit=None):
    """Images in the model's channel order + int64 labels from an .npz with `images` and `labels`.

    `labels` must be a 1-D integer array with one class index (0 .. outputs-1) per image of the
    file; `limit` keeps the first images."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise NnbuildError("evaluation data not found" if not os.path.exists(path) else
                           "evaluation data is a folder", file=path, expected=EVAL_EXPECTED)
    if limit is not None and (int(limit) != limit or limit < 1):
        raise NnbuildError(f"limit = {limit}", file=path, expected="a positive number of images")
    images = load_images(path, graph.tensors[graph.input].shape,
                         channel_order=graph.meta.get("channel_order", "RGB"))
    labels = _load_labels(path)
    if len(labels) != len(images):
        raise NnbuildError(f"{len(labels)} labels for {len(images)} images", file=path, where="labels",
                           expected="one label per image")
    classes = graph.tensors[graph.outputs[0]].size
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if bad.size:
        raise NnbuildError(f"label {labels[bad[0]]} of image {bad[0]} is not a class index", file=path,
                           where="labels", expected=f"0..{classes - 1} (the model has {classes} outputs)")
    if limit is not None:
        if limit > len(images):
            raise NnbuildError(f"only {len(images)} images, {limit} requested", file=path, where="images",
                               expected=f"at least {limit} images")
        images, labels = images[:limit], labels[:limit]
    return images, labels


def _load_labels(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            if "labels" not in z.files:
                raise NnbuildError(f"evaluation data has no 'labels' array (found: {', '.join(z.files)})",
                                   file=path, expected=EVAL_EXPECTED)
            labels = z["labels"]
    except MemoryError:     # a header can declare any size; numpy refuses before touching memory
        raise NnbuildError("'labels' declares more data than fits in memory", file=path, where="labels",
                           expected="one integer label per image") from None
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise NnbuildError(f"cannot read 'labels': {e}", file=path, where="labels",
                           expected="a 1-D integer array (object arrays are refused)") from None
    if labels.dtype.kind not in "iu":
        raise NnbuildError(f"'labels' has dtype {labels.dtype}", file=path, where="labels",
                           expected="integer class indices")
    if labels.ndim != 1:
        raise NnbuildError(f"'labels' has shape {labels.shape}", file=path, where="labels",
                           expected="a 1-D array (N,): one label per image")
    return labels.astype(np.int64)

"""Common corruptions of a test set, as in CIFAR-10-C (Hendrycks & Dietterich, "Benchmarking
Neural Network Robustness to Common Corruptions and Perturbations", ICLR 2019).

Every corruption takes images `N x H x W x C` (C = 1 grey or 3 RGB) with values in [0, 1] and a
severity 1..5, and returns them corrupted, in [0, 1], float32. The parameters per severity are
those of the authors' CIFAR-10-C generator (github.com/hendrycks/robustness,
`ImageNet-C/create_c/make_cifar_c.py`, commit 8190fe3), cited per function; where that code
calls scikit-image, OpenCV or ImageMagick, the same operation is written with numpy, scipy.ndimage
and PIL. Sizes given in pixels for 32 x 32 images (the elastic transform) scale with the image;
weather corruptions (fog, frost, snow, spatter) need the authors' image files and are left out,
as are glass, motion and zoom blur.

Random corruptions draw from `numpy.random.default_rng((seed, corruption index, severity))`: the
same `(corruption, severity, seed)` gives the same images.

Example:
    >>> x = np.full((2, 8, 8, 1), 0.5, dtype=np.float32)
    >>> y = corrupt(x, "gaussian_noise", 3, seed=0)
    >>> y.shape, bool((corrupt(x, "gaussian_noise", 3, seed=0) == y).all())
    ((2, 8, 8, 1), True)
    >>> round(float(corrupt(x, "brightness", 5, seed=0).max()), 6)  # value + 0.3 in HSV
    0.8
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

from samtrain.config.eval_set_spec import CORRUPTIONS, SEVERITIES

__all__ = ["CORRUPTIONS", "corrupt"]

Rng = np.random.Generator


def gaussian_noise(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    """make_cifar_c.py `gaussian_noise`: add N(0, c^2), c = 0.04 .. 0.10."""
    c = [0.04, 0.06, 0.08, 0.09, 0.10][severity - 1]
    return x + rng.normal(size=x.shape, scale=c)


def shot_noise(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    """make_cifar_c.py `shot_noise`: Poisson(x * c) / c, c = 500 .. 50 photons."""
    c = [500, 250, 100, 75, 50][severity - 1]
    return rng.poisson(x * c) / c


def impulse_noise(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    """make_cifar_c.py `impulse_noise` (skimage `random_noise(mode='s&p', amount=c)`): a share
    c = 0.01 .. 0.07 of the values set to 0 or 1, half each."""
    c = [0.01, 0.02, 0.03, 0.05, 0.07][severity - 1]
    flipped = rng.random(x.shape) <= c
    salted = rng.random(x.shape) <= 0.5
    out = x.copy()
    out[flipped & salted] = 1.0
    out[flipped & ~salted] = 0.0
    return out


def speckle_noise(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    """make_cifar_c.py `speckle_noise`: x + x * N(0, c^2), c = 0.06 .. 0.2."""
    c = [0.06, 0.1, 0.12, 0.16, 0.2][severity - 1]
    return x + x * rng.normal(size=x.shape, scale=c)


def gaussian_blur(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    """make_cifar_c.py `gaussian_blur` (skimage `gaussian`, mode 'nearest'): sigma = 0.4 .. 1."""
    c = [0.4, 0.6, 0.7, 0.8, 1.0][severity - 1]
    return ndimage.gaussian_filter(x, sigma=(0, c, c, 0), mode="nearest")


def _disk(radius: float, alias_blur: float) -> np.ndarray:
    """make_cifar_c.py `disk`: a normalized disk on a 17 x 17 grid, anti-aliased by a 3 x 3
    Gaussian (OpenCV `GaussianBlur`, border reflect-101)."""
    span = np.arange(-8, 9) if radius <= 8 else np.arange(-int(radius), int(radius) + 1)
    xx, yy = np.meshgrid(span, span)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    taps = np.exp(-np.arange(-1, 2) ** 2 / (2 * alias_blur**2))
    taps /= taps.sum()
    for axis in (0, 1):
        disk = ndimage.correlate1d(disk, taps, axis=axis, mode="mirror")
    return disk


def defocus_blur(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    """make_cifar_c.py `defocus_blur`: correlation with a disk of (radius, alias blur) =
    (0.3, 0.4) .. (1.5, 0.1) (OpenCV `filter2D`, border reflect-101)."""
    radius, alias = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
    kernel = _disk(radius, alias)[None, :, :, None]
    return ndimage.correlate(x, kernel, mode="mirror")


def contrast(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    """make_cifar_c.py `contrast`: (x - m) * c + m, m each image's channel means, c = 0.75 .. 0.15."""
    c = [0.75, 0.5, 0.4, 0.3, 0.15][severity - 1]
    means = x.mean(axis=(1, 2), keepdims=True)
    return (x - means) * c + means


def brightness(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    """make_cifar_c.py `brightness`: the HSV value raised by c = 0.05 .. 0.3 (clipped to 1).

    Hue and saturation kept, RGB is linear in the value V = max over channels: each pixel is
    scaled by (V + c) / V, and a black pixel becomes grey (V + c); a grey image is x + c."""
    c = [0.05, 0.1, 0.15, 0.2, 0.3][severity - 1]
    value = x.max(axis=3, keepdims=True)
    raised = np.minimum(value + c, 1.0)
    scale = np.divide(raised, value, out=np.zeros_like(value), where=value > 0)
    return np.where(value > 0, x * scale, raised)


def _pil_each(x: np.ndarray, fn: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    """`fn` applied to each image as 8-bit PIL ("L" or "RGB"), back in [0, 1]."""
    grey = x.shape[3] == 1
    out = np.empty_like(x)
    for i, img in enumerate(np.clip(x, 0, 1)):
        pixels = np.uint8(np.round(img * 255))
        pil = Image.fromarray(pixels[:, :, 0] if grey else pixels, mode="L" if grey else "RGB")
        done = np.asarray(fn(pil), dtype=np.float32) / 255.0
        out[i] = done[:, :, None] if grey else done
    return out


def jpeg_compression(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    """make_cifar_c.py `jpeg_compression`: saved as JPEG at quality 80 .. 40 and read back."""
    quality = [80, 65, 58, 50, 40][severity - 1]

    def jpeg(img: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        buf.seek(0)
        return Image.open(buf).convert(img.mode)

    return _pil_each(x, jpeg)


def pixelate(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    """make_cifar_c.py `pixelate`: box-downsampled to c = 0.95 .. 0.65 of the side and back."""
    c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    h, w = x.shape[1:3]
    small = (int(w * c), int(h * c))
    return _pil_each(x, lambda img: img.resize(small, Image.BOX).resize((w, h), Image.BOX))


def elastic_transform(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    """make_cifar_c.py `elastic_transform`: a random affine jitter of three points by up to
    c2 pixels, then a smooth displacement field (uniform noise blurred by sigma c1, times c0);
    (c0, c1, c2) = (0, 0, 0.08) .. (0.1, 0.03, 0.03) times the image side."""
    side = min(x.shape[1:3])
    c0, c1, c2 = (side * f for f in [(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06),
                                     (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)][severity - 1])
    return _elastic(x, c0, c1, c2, rng)


def _fold(i: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Indices folded into 0..n-1: "mirror" (reflect-101: 2 1 | 0 1 2) or "reflect" (1 0 | 0 1)."""
    if n == 1:
        return np.zeros_like(i)
    if mode == "mirror":
        i = np.abs(i) % (2 * n - 2)
        return np.where(i >= n, 2 * n - 2 - i, i)
    i = i % (2 * n)
    return np.where(i >= n, 2 * n - 1 - i, i)


def _sample(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, mode: str) -> np.ndarray:
    """`x` (N x H x W x C) read at `(rows, cols)` (N x H x W each), bilinear, the borders
    continued by `mode` (`_fold`)."""
    n, h, w, _ = x.shape
    r0, c0 = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    fr, fc = (rows - r0)[..., None], (cols - c0)[..., None]
    img = np.arange(n)[:, None, None]
    ra, rb = _fold(r0, h, mode), _fold(r0 + 1, h, mode)
    ca, cb = _fold(c0, w, mode), _fold(c0 + 1, w, mode)
    top = x[img, ra, ca] * (1 - fc) + x[img, ra, cb] * fc
    bottom = x[img, rb, ca] * (1 - fc) + x[img, rb, cb] * fc
    return top * (1 - fr) + bottom * fr


def _elastic(x: np.ndarray, c0: float, c1: float, c2: float, rng: Rng) -> np.ndarray:
    n, h, w, _ = x.shape
    center, half = np.float64([h, w]) // 2, min(h, w) // 3
    src = np.array([center + half, [center[0] + half, center[1] - half], center - half])
    dst = src + rng.uniform(-c2, c2, size=(n, *src.shape))
    # per image, the affine map taking src to dst (on (row, col) points); the output at p
    # samples the input at its inverse image (OpenCV `warpAffine`, border reflect-101)
    forward = np.linalg.solve(np.c_[src, np.ones(3)][None], dst).transpose(0, 2, 1)
    inverse = np.linalg.inv(np.concatenate([forward, np.tile([[[0, 0, 1]]], (n, 1, 1))], axis=1))
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    grid = np.stack([rows, cols, np.ones_like(rows)]).reshape(3, -1)
    at = (inverse[:, :2] @ grid).reshape(n, 2, h, w)
    warped = _sample(x, at[:, 0], at[:, 1], "mirror")
    dx, dy = (ndimage.gaussian_filter(rng.uniform(-1, 1, size=(n, h, w)), (0, c1, c1),
                                      mode="reflect", truncate=3) * c0 for _ in range(2))
    return _sample(warped, rows + dy, cols + dx, "reflect")


_FUNCTIONS: dict[str, Callable[[np.ndarray, int, Rng], np.ndarray]] = {
    f.__name__: f for f in (gaussian_noise, shot_noise, impulse_noise, speckle_noise, gaussian_blur,
                            defocus_blur, contrast, brightness, jpeg_compression, pixelate,
                            elastic_transform)}
assert set(_FUNCTIONS) == set(CORRUPTIONS)


def corrupt(images: np.ndarray, corruption: str, severity: int, seed: int) -> np.ndarray:
    """`images` (N x H x W x C in [0, 1]) with `corruption` at `severity`, deterministic in
    `(corruption, severity, seed)`; float32 in [0, 1]."""
    if corruption not in _FUNCTIONS:
        raise ValueError(f"corruption {corruption!r} is unknown; allowed: {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is invalid: must be 1..5")
    if images.ndim != 4 or images.shape[3] not in (1, 3):
        raise ValueError(f"images must be N x H x W x C with C 1 or 3, got {images.shape}")
    rng = np.random.default_rng((seed, CORRUPTIONS.index(corruption), severity))
    x = np.asarray(images, dtype=np.float64)
    return np.clip(_FUNCTIONS[corruption](x, severity, rng), 0, 1).astype(np.float32)

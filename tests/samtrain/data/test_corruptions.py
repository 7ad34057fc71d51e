"""The CIFAR-10-C style corruptions: deterministic per (corruption, severity, seed), stronger with
severity, and the closed-form ones exactly as their formula (Hendrycks & Dietterich 2019)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from samtrain.data import corruptions as C
from samtrain.data.corruptions import CORRUPTIONS, corrupt

RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "elastic_transform"}


def smooth_images(n: int, side: int, channels: int, seed: int = 0) -> np.ndarray:
    """Images with structure at several scales (blurred noise), in [0, 1]."""
    x = np.random.default_rng(seed).random((n, side, side, channels))
    x = ndimage.gaussian_filter(x, sigma=(0, 1.5, 1.5, 0))
    return ((x - x.min()) / (x.max() - x.min())).astype(np.float32)


@pytest.mark.parametrize("name", CORRUPTIONS)
@pytest.mark.parametrize("channels", [1, 3])
def test_same_seed_same_images_and_another_seed_other_noise(name, channels):
    x = smooth_images(6, 28 if channels == 1 else 32, channels)
    a = corrupt(x, name, 3, seed=7)
    assert a.dtype == np.float32 and a.shape == x.shape and 0 <= a.min() and a.max() <= 1
    assert np.array_equal(a, corrupt(x.copy(), name, 3, seed=7))
    assert np.array_equal(a, corrupt(x, name, 3, seed=8)) == (name not in RANDOM)
    assert not np.array_equal(a, x)


@pytest.mark.parametrize("name", sorted(set(CORRUPTIONS) - {"elastic_transform"}))
@pytest.mark.parametrize("side, channels", [(28, 1), (32, 3)])
def test_every_corruption_changes_the_images_more_as_severity_rises(name, side, channels):
    x = smooth_images(40, side, channels)
    change = [float(np.abs(corrupt(x, name, s, seed=0) - x).mean()) for s in range(1, 6)]
    assert all(a <= b for a, b in zip(change, change[1:], strict=False)), change
    assert change[4] > 1.2 * change[0], change


def test_elastic_displacement_grows_with_severity_while_the_affine_jitter_shrinks():
    """The published (c0, c1, c2) trade a smaller affine jitter (c2) for a larger local field
    (c0 / c1): each part alone is monotone in severity."""
    x = smooth_images(20, 28, 1)
    params = [(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05),
              (0.1, 0.03, 0.03)]

    def change(part: int) -> list[float]:
        out = []
        for p in params:
            c = [28 * v if i == part else 0.0 for i, v in enumerate(p)]
            if part == 0:
                c[1] = 28 * p[1]
            out.append(float(np.abs(C._elastic(x, *c, np.random.default_rng(0)) - x).mean()))
        return out

    field, affine = change(0), change(2)
    assert field[0] == 0 and all(a < b for a, b in zip(field[1:], field[2:], strict=False)), field
    assert all(a > b for a, b in zip(affine, affine[1:], strict=False)), affine


def test_closed_forms():
    x = smooth_images(4, 28, 1)
    means = x.mean(axis=(1, 2), keepdims=True)
    assert np.allclose(corrupt(x, "contrast", 4, 0), (x - means) * 0.3 + means, atol=1e-6)
    assert np.allclose(corrupt(x, "brightness", 2, 0), np.clip(x + 0.1, 0, 1), atol=1e-6)
    rgb = smooth_images(4, 32, 3)
    v = rgb.max(axis=3, keepdims=True)
    assert np.allclose(corrupt(rgb, "brightness", 5, 0), rgb * np.minimum(v + 0.3, 1) / v, atol=1e-5)
    flat = np.full((200, 32, 32, 1), 0.5, dtype=np.float32)
    noise = corrupt(flat, "gaussian_noise", 5, 0) - 0.5
    assert abs(noise.std() - 0.10) < 0.002 and abs(noise.mean()) < 0.002
    flipped = corrupt(flat, "impulse_noise", 5, 0) != 0.5
    assert abs(flipped.mean() - 0.07) < 0.003
    shot = corrupt(flat, "shot_noise", 5, 0)  # Poisson(25) / 50: mean 0.5, std 0.1
    assert abs(shot.mean() - 0.5) < 0.002 and abs(shot.std() - 0.1) < 0.002
    grey = np.full((2, 28, 28, 1), 102 / 255, dtype=np.float32)  # on the 8-bit grid PIL uses
    assert np.allclose(corrupt(grey, "pixelate", 5, 0), grey, atol=1e-7)  # flat stays flat


def test_bad_arguments_name_what_is_allowed():
    x = smooth_images(1, 8, 1)
    with pytest.raises(ValueError, match="corruption 'fog' is unknown"):
        corrupt(x, "fog", 1, 0)
    with pytest.raises(ValueError, match="severity 6"):
        corrupt(x, "contrast", 6, 0)
    with pytest.raises(ValueError, match="C 1 or 3"):
        corrupt(x[..., [0, 0]], "contrast", 1, 0)


@pytest.mark.parametrize("mode", ["mirror", "reflect"])
def test_the_bilinear_sampler_is_scipys_map_coordinates_on_every_image(mode):
    x = smooth_images(3, 16, 2).astype(np.float64)
    rng = np.random.default_rng(0)
    rows = np.arange(16)[:, None] + rng.uniform(-4, 4, (3, 16, 16))
    cols = np.arange(16)[None, :] + rng.uniform(-4, 4, (3, 16, 16))
    want = np.stack([np.stack([ndimage.map_coordinates(x[i, :, :, k], [rows[i], cols[i]], order=1,
                                                       mode=mode) for k in range(2)], axis=2)
                     for i in range(3)])
    assert np.allclose(C._sample(x, rows, cols, mode), want, atol=1e-12)

"""Tiny dataset files in the real on-disk formats (no registry ships CIFAR or ImageNet):
Fashion-MNIST IDX files, CIFAR python pickles (as Python 2 wrote them), ImageNet image folders."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from samtrain.data import fashion_mnist as fm
from samtrain.data.idx import write_idx


def write_fashion_idx(folder: Path, n_train: int = 12, n_val: int = 5, gz: bool = True) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train).astype(np.uint8),
        "val_images": rng.integers(0, 256, (n_val, 28, 28), dtype=np.uint8),
        "val_labels": rng.integers(0, 10, n_val).astype(np.uint8),
    }
    for key, array in arrays.items():
        write_idx(folder / (fm.FILES[key.replace("val_", "test_")] + (".gz" if gz else "")), array)
    return arrays


class _Py2Pickler(pickle._Pickler):
    """Writes `bytes` as Python 2 `str` (SHORT_BINSTRING/BINSTRING), as in the real CIFAR files."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def _py2_dump(obj: dict, path: Path) -> None:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    path.write_bytes(buf.getvalue())


def write_cifar(root: Path, name: str, per_file: int = 4) -> dict[str, np.ndarray]:
    """Tiny CIFAR files in the real layout; returns the train/val images (N x 32 x 32 x 3)."""
    rng = np.random.default_rng(1)
    ten = name == "cifar10"
    folder = root / ("cifar-10-batches-py" if ten else "cifar-100-python")
    folder.mkdir(parents=True)
    files = ([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]) if ten else ["train", "test"]
    label_key = b"labels" if ten else b"fine_labels"
    out: dict[str, list[np.ndarray]] = {"train": [], "val": [], "train_y": [], "val_y": []}
    for f in files:
        data = rng.integers(0, 256, (per_file, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10 if ten else 100, per_file).tolist()
        entry = {b"batch_label": f.encode(), label_key: labels, b"data": data,
                 b"filenames": [f"img_{i}.png".encode() for i in range(per_file)]}
        if not ten:
            entry[b"coarse_labels"] = [y // 5 for y in labels]
        _py2_dump(entry, folder / f)
        split = "val" if "test" in f else "train"
        out[split].append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        out[f"{split}_y"].append(np.array(labels))
    if ten:
        meta = {b"label_names": [f"class{i}".encode() for i in range(10)],
                b"num_cases_per_batch": per_file, b"num_vis": 3072}
        _py2_dump(meta, folder / "batches.meta")
    else:
        meta = {b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
                b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]}
        _py2_dump(meta, folder / "meta")
    return {k: np.concatenate(v) for k, v in out.items()}


def write_image_folder(root: Path, classes: list[str], per_class: int = 2) -> None:
    rng = np.random.default_rng(2)
    for split in ("train", "val"):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
                ext = "JPEG" if i % 2 == 0 else "png"
                Image.fromarray(pixels).save(root / split / c / f"img{i}.{ext}")

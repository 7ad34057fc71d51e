"""The IDX file format of (Fashion-)MNIST: read and write, gzip-compressed or plain.

Layout: two zero bytes, a type code (0x08 = uint8), the number of dimensions, each dimension as
a big-endian int32, then the data in C order.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import BinaryIO

import numpy as np

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).str: k for k, v in _DTYPES.items()}


def _open(path: Path, mode: str) -> BinaryIO:
    return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (`.gz` is decompressed) into a numpy array of its shape.

    Example:
        >>> import tempfile; p = Path(tempfile.mkdtemp()) / "x-idx1-ubyte.gz"
        >>> write_idx(p, np.array([3, 1, 4], dtype=np.uint8))
        >>> read_idx(p).tolist()
        [3, 1, 4]
    """
    path = Path(path)
    with _open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[raw[2]])
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but holds {data.size} values")
    return data.reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def idx_shape(path: str | Path) -> tuple[int, ...]:
    """The shape in an IDX file's header (reads only the header).

    Example:
        >>> import tempfile; p = Path(tempfile.mkdtemp()) / "z-idx1-ubyte"
        >>> write_idx(p, np.zeros(5, dtype=np.uint8)); idx_shape(p)
        (5,)
    """
    with _open(Path(path), "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[:2] != b"\x00\x00":
            raise ValueError(f"{path}: not an IDX file")
        return tuple(int(d) for d in np.frombuffer(f.read(4 * head[3]), dtype=">i4"))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write `array` as an IDX file (gzip-compressed when the name ends in `.gz`).

    Example:
        >>> import tempfile; p = Path(tempfile.mkdtemp()) / "y-idx3-ubyte"
        >>> write_idx(p, np.zeros((2, 3, 3), dtype=np.uint8)); read_idx(p).shape
        (2, 3, 3)
    """
    path = Path(path)
    code = _CODES.get(array.dtype.newbyteorder(">").str)
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    big_endian = array.astype(np.dtype(_DTYPES[code]), copy=False)
    with _open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(big_endian).tobytes())

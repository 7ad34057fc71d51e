"""The shifted evaluation sets of a run (`TrainConfig.eval_sets`), built from its data source,
and their check before anything starts (`check_eval_sets`).

Each set is an `EvalSet`: a name, a builder of its torch `Dataset` (called when it is scored: a
corrupted copy of a large test split is made then and let go afterwards), and the training
classes it scores (None: all). With `classes`, the set's targets are positions in `classes`:
the scorer keeps only those logits (`samtrain.engine.shift_eval`), so a prediction is the best of the
mapped classes (as ImageNet-R and ImageNet-A are scored on their 200 classes).

Pixel values: corruptions and image files work on pixels in [0, 1], the training data is
normalized; the map between them is per channel, from the smallest and largest value of the
first 1,000 test images (the normalized 0 and 255: exact for Fashion-MNIST, CIFAR and digits).
Corrupted sets use `data_seed`, never the run's seed: every run of a study scores the same images.

Example:
    >>> from samtrain.config.train_config import TrainConfig
    >>> from samtrain.data.build import load_source
    >>> cfg = TrainConfig(dataset="digits", eval_sets=[{"corruption": "contrast", "severity": 5,
    ...                                                 "examples": 50}])
    >>> [(s.name, len(s.make())) for s in build_eval_sets(cfg, load_source(cfg))]
    [('contrast_5', 50)]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import Dataset

from samtrain.config.eval_set_spec import CorruptionSet, FolderSet, ImportSet, corruption_of
from samtrain.config.registry import call, resolve
from samtrain.data.bundle import DataSource
from samtrain.data.corruptions import corrupt
from samtrain.data.views import RelabeledSubset, TensorImageDataset
from samtrain.errors import ConfigError

if TYPE_CHECKING:
    from samtrain.config.train_config import TrainConfig

__all__ = ["EvalSet", "build_eval_sets", "check_eval_sets", "pixel_range", "resolve_import_set"]

RANGE_EXAMPLES = 1000


@dataclass(frozen=True)
class EvalSet:
    """One shifted set: `make()` builds its dataset; `classes`: the training classes scored."""

    name: str
    make: Callable[[], Dataset]
    classes: tuple[int, ...] | None = None
    corruption: tuple[str, int] | None = None  # (name, severity) of a corruption set


def _images(ds: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `n` items of `ds` as `(x, y)` tensors."""
    n = min(n, len(ds))  # type: ignore[arg-type]
    if isinstance(ds, TensorImageDataset):
        return ds.images[:n], ds.targets[:n]
    items = [ds[i] for i in range(n)]
    return torch.stack([x for x, _ in items]), torch.as_tensor([int(y) for _, y in items])


def pixel_range(test: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel `(low, high)` (`C x 1 x 1`) of the first 1,000 test images: pixel 0 and 1.

    Example:
        >>> ds = TensorImageDataset(torch.tensor([[[[-1.0, 3.0]]]]), torch.tensor([0]))
        >>> [t.flatten().tolist() for t in pixel_range(ds)]
        [[-1.0], [3.0]]
    """
    x, _ = _images(test, RANGE_EXAMPLES)
    dims = (0, *range(2, x.dim()))
    return x.amin(dim=dims).view(-1, 1, 1), x.amax(dim=dims).view(-1, 1, 1)


class _ToRange:
    """Pixels in [0, 1] (`C x H x W`) to the training data's values."""

    def __init__(self, low: torch.Tensor, high: torch.Tensor) -> None:
        self.low, self.high = low, high

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.low + x * (self.high - self.low)


def _corrupted(test: Dataset, corruption: str, severity: int, examples: int | None,
               seed: int) -> TensorImageDataset:
    x, y = _images(test, examples or len(test))  # type: ignore[arg-type]
    low, high = pixel_range(test)
    span = torch.where(high > low, high - low, torch.ones_like(high))
    pixels = ((x - low) / span).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    out = torch.from_numpy(corrupt(pixels, corruption, severity, seed)).permute(0, 3, 1, 2)
    return TensorImageDataset(_ToRange(low, high)(out.contiguous()), y)


def _corruption_sets(spec: CorruptionSet, test: Dataset, seed: int) -> list[EvalSet]:
    return [EvalSet(f"{c}_{s}", lambda c=c, s=s: _corrupted(test, c, s, spec.examples, seed),
                    corruption=(c, s))
            for c in spec.corruption for s in spec.severity]


def _folder_set(spec: FolderSet, src: DataSource) -> EvalSet:
    from torchvision import datasets, transforms

    grey = src.in_channels == 1
    size = src.image_size
    low, high = pixel_range(src.test)
    transform = transforms.Compose([  # ImageFolder reads RGB
        *([transforms.Grayscale(1)] if grey else []), transforms.Resize(size),
        transforms.CenterCrop(size), transforms.ToTensor(), _ToRange(low, high)])

    def make() -> Dataset:
        ds = datasets.ImageFolder(spec.folder, transform=transform)
        folder_targets = torch.as_tensor(ds.targets)
        if spec.class_map is None:
            return RelabeledSubset(ds, torch.arange(len(ds)), folder_targets)
        position = {c: i for i, c in enumerate(classes)}
        mapped = {ds.class_to_idx[name]: position[k] for name, k in spec.class_map.items()}
        keep = [i for i, t in enumerate(folder_targets.tolist()) if t in mapped]
        return RelabeledSubset(ds, torch.as_tensor(keep, dtype=torch.int64),
                               torch.as_tensor([mapped[int(folder_targets[i])] for i in keep]))

    classes = None if spec.class_map is None else tuple(sorted(set(spec.class_map.values())))
    name = spec.set_names()[0]  # ImageNet-C's fog/3 named fog_3 counts as a corruption
    return EvalSet(name, make, classes, corruption_of(name))


def _import_set(spec: ImportSet, i: int) -> EvalSet:
    fn, name = resolve_import_set(spec, i), spec.set_names()[0]
    return EvalSet(name, lambda: call("kwargs", spec.import_, fn, {}, spec.kwargs), None,
                   corruption_of(name))


def build_eval_sets(cfg: TrainConfig, src: DataSource) -> list[EvalSet]:
    """The sets `cfg.eval_sets` names, in order (corruptions of `src.test`)."""
    out: list[EvalSet] = []
    for i, spec in enumerate(cfg.eval_sets):
        if isinstance(spec, CorruptionSet):
            out += _corruption_sets(spec, src.test, cfg.data_seed)
        elif isinstance(spec, FolderSet):
            out.append(_folder_set(spec, src))
        else:
            out.append(_import_set(spec, i))
    return out


def resolve_import_set(spec: ImportSet, i: int) -> Callable[..., Any]:
    """The function `spec` names (entry `i` of `eval_sets`); one-line `ConfigError` if it
    cannot be imported."""
    try:
        return resolve("dataset", spec.import_)
    except ConfigError as e:
        raise ConfigError(str(e).replace("key 'dataset'", f"key 'eval_sets.{i}.import'", 1)) from None


def _folder_error(i: int, key: str, value: Any, rule: str) -> ConfigError:
    return ConfigError(f"key 'eval_sets.{i}.{key}': value {value!r} is invalid: {rule}")


def _check_folder(spec: FolderSet, i: int, num_classes: int) -> None:
    from torchvision.datasets.folder import find_classes

    if not Path(spec.folder).is_dir():
        raise _folder_error(i, "folder", spec.folder, "no such folder")
    try:
        classes, _ = find_classes(spec.folder)
    except FileNotFoundError:
        raise _folder_error(i, "folder", spec.folder, "it holds no class folders (ImageFolder "
                            "layout: FOLDER/CLASS/IMAGE)") from None
    if spec.class_map is None:
        if len(classes) > num_classes:
            raise _folder_error(i, "folder", spec.folder, f"it has {len(classes)} class folders, "
                                f"the training set {num_classes} classes: give a class_map")
        return
    unknown = sorted(set(spec.class_map) - set(classes))
    if unknown:
        raise _folder_error(i, "class_map", spec.class_map, f"names folder classes "
                            f"{', '.join(unknown)} not in {spec.folder} (it has "
                            f"{', '.join(classes[:20])}{' ...' if len(classes) > 20 else ''})")
    beyond = sorted(k for k in set(spec.class_map.values()) if k >= num_classes)
    if beyond:
        raise _folder_error(i, "class_map", spec.class_map, f"names training classes "
                            f"{', '.join(map(str, beyond))}; the training set has {num_classes} "
                            f"classes (0..{num_classes - 1})")


def check_eval_sets(cfg: TrainConfig, num_classes: Callable[[], int]) -> None:
    """`ConfigError` (one line: key, value, rule) for a folder that is missing or holds no
    classes, a class map naming classes the folder or the training set lacks, an import string
    that does not resolve. `num_classes()` gives the training set's classes (called if needed).

    Example:
        >>> from samtrain.config.train_config import TrainConfig
        >>> check_eval_sets(TrainConfig(eval_sets=[{"folder": "/no/such"}]), lambda: 10)
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        samtrain.errors.ConfigError: key 'eval_sets.0.folder': value '/no/such' is invalid: ...
    """
    for i, spec in enumerate(cfg.eval_sets):
        if isinstance(spec, FolderSet):
            _check_folder(spec, i, num_classes())
        elif isinstance(spec, ImportSet):
            resolve_import_set(spec, i)

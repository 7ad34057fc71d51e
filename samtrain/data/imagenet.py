"""ImageNet (or any ImageFolder data) from `data_dir/train/<class>/*` and `data_dir/val/<class>/*`.

`train/` is the training pool (the validation split of a run is drawn from it), ImageNet's
official `val/` is the test split. Pool: RandomResizedCrop(224) + flip; validation and test:
Resize(256) + CenterCrop(224); ImageNet normalization. Both folders must have the same class
folders, so label indices agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from torchvision import transforms
from torchvision.datasets import ImageFolder

from samtrain.data.bundle import DataSource
from samtrain.data.record import DatasetRecord
from samtrain.errors import DatasetNotFound

if TYPE_CHECKING:
    from samtrain.config.train_config import TrainConfig

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGE_SIZE = 224


def load_imagenet(data_dir: str | None) -> DataSource:
    """ImageFolder train/val splits with the standard ImageNet transforms.

    Example:
        s = load_imagenet("/data/imagenet")
        s.num_classes, s.image_size
        (1000, 224)
    """
    if data_dir is None:
        raise DatasetNotFound(
            "imagenet: data_dir is not set; set it to a folder with train/<class>/*.JPEG and "
            "val/<class>/*.JPEG (val images sorted into class folders)"
        )
    root = Path(data_dir)
    for split in ("train", "val"):
        folder = root / split
        if not folder.is_dir() or not any(p.is_dir() for p in folder.iterdir()):
            raise DatasetNotFound(
                f"imagenet: {folder} has no class folders; data_dir must hold train/<class>/*.JPEG "
                "and val/<class>/*.JPEG (val images sorted into class folders)"
            )
    normalize = [transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    train_tf = transforms.Compose(
        [transforms.RandomResizedCrop(IMAGE_SIZE), transforms.RandomHorizontalFlip(), *normalize]
    )
    val_tf = transforms.Compose(
        [transforms.Resize(256), transforms.CenterCrop(IMAGE_SIZE), *normalize]
    )
    try:
        train = ImageFolder(str(root / "train"), transform=train_tf)
        train_eval = ImageFolder(str(root / "train"), transform=val_tf)
        val = ImageFolder(str(root / "val"), transform=val_tf)
    except FileNotFoundError as e:  # a class folder without images
        raise DatasetNotFound(f"imagenet: {e}") from None
    if val.classes != train.classes:
        extra = sorted(set(val.classes) ^ set(train.classes))[:5]
        raise ValueError(
            f"imagenet: {root / 'train'} and {root / 'val'} have different class folders "
            f"(e.g. {extra}); label indices would not agree"
        )
    return DataSource(pool=train, pool_eval=train_eval, test=val, num_classes=len(train.classes),
                      in_channels=3, image_size=IMAGE_SIZE)


def _locate(cfg: TrainConfig) -> None:
    """Raise the explanatory `DatasetNotFound` unless `data_dir` holds train/<class> folders,
    without reading the images (the train folder's presence is taken as enough)."""
    if cfg.data_dir is None or not Path(cfg.data_dir, "train").is_dir():
        load_imagenet(cfg.data_dir)


# the built-in names this module loads -> their loader (read by samtrain.config.registry)
DATASETS = {"imagenet": "load_imagenet"}
RECORDS = {"imagenet": DatasetRecord(shapes=(1000, 3, IMAGE_SIZE), locate=_locate)}

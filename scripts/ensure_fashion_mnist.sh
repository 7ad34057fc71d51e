#!/usr/bin/env bash
# Fashion-MNIST for the demo and the tests that read the real files: Debian's dataset-fashion-mnist
# (IDX .gz files under /usr/share/datasets/fashion-mnist/). Installed when this runs as root with
# apt-get; otherwise samtrain falls back to a torchvision download into ~/.cache/samtrain.
set -u
FMNIST=/usr/share/datasets/fashion-mnist
if [ -f "$FMNIST/train-images-idx3-ubyte.gz" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing Debian's dataset-fashion-mnist"
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
    || echo "   (apt-get failed: samtrain falls back to a torchvision download)"
else
  echo "== $FMNIST missing and not root: samtrain falls back to a torchvision download"
fi
exit 0

#!/bin/sh
# Make Fashion-MNIST available: use a local copy if there is one; else install the Debian/Ubuntu
# package dataset-fashion-mnist when apt-get is usable; else let torchvision download it.
# Then verify it (sizes and SHA-256 of every file) and draw the sample grid.  Usage: get_data.sh BIN_DIR
set -e
BIN=${1:-.venv/bin}
if [ ! -x "$BIN/fmnist-cnn" ]; then
  echo "fmnist-cnn is not installed in $BIN: run make run (or make setup) first"; exit 1
fi
SYS=/usr/share/datasets/fashion-mnist
if [ -z "$FMNIST_DATA" ] && [ ! -f "$SYS/train-images-idx3-ubyte.gz" ] && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo
  else SUDO=no; fi
  if [ "$SUDO" != no ]; then
    echo "Installing the Debian package dataset-fashion-mnist ..."
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
      || echo "(apt-get could not install it; trying torchvision's download)"
  fi
fi
"$BIN/fmnist-cnn" data

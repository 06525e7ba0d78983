#!/usr/bin/env bash
# Installs everything kvscope needs on a fresh Debian machine, fetches the default model
# and builds the release binary into build/. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libopenblas-openmp-dev libeigen3-dev nlohmann-json3-dev libpcre2-dev libcairo2-dev libpango1.0-dev libglib2.0-dev zlib1g-dev
  libcli11-dev libfmt-dev libcurl4-openssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  fonts-dejavu-core fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji python3
  chromium chromium-driver  # browser tests of report.html (tests/browser)
  bible-kjv bible-kjv-text  # the default text of kvscope compress (public-domain English prose)
)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

bash scripts/fetch_default_model.sh
bash scripts/fetch_gemma_model.sh
bash scripts/make_default_text.sh

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target kvscope

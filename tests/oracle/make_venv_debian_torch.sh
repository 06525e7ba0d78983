#!/usr/bin/env bash
# A Python environment for make_compress_fixtures.py without PyPI's large CUDA builds of torch:
# Debian's CPU torch (python3-torch 1.13) with the last transformers that runs on it, in a
# virtual environment under build/ that sees the system packages. Usage:
#   bash tests/oracle/make_venv_debian_torch.sh && build/oracle-venv/bin/python tests/oracle/make_compress_fixtures.py
set -euo pipefail
cd "$(dirname "$0")/../.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-torch python3-venv
[ -x build/oracle-venv/bin/python ] || /usr/bin/python3 -m venv --system-site-packages build/oracle-venv
build/oracle-venv/bin/pip install -q transformers==4.46.3 gguf==0.19.0 safetensors accelerate==1.1.1

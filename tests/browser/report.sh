#!/usr/bin/env bash
# Runs report_test.py with the test environment's Python (selenium): $KVSCOPE_PYTHON, else
# build/venv-test (scripts/test.sh makes it), else python3.
# Usage: report.sh KVSCOPE_BINARY SOURCE_DIR
py=${KVSCOPE_PYTHON:-}
if [ -z "$py" ]; then
  if [ -x "$2/build/venv-test/bin/python" ]; then py=$2/build/venv-test/bin/python; else py=python3; fi
fi
exec "$py" "$(dirname "$0")/report_test.py" "$1" "$2"

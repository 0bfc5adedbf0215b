#!/usr/bin/env bash
# Create the project venv on a fresh Debian/Ubuntu machine: installs python3-venv via apt
# when the interpreter cannot make venvs, then installs torch (CPU build) and echomark with every
# extra, at the exact versions of constraints.txt; also Debian's chromium for the annotator's
# browser tests.
set -euo pipefail
PYTHON=${1:-python3.11}
VENV=${2:-.venv}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: $PYTHON not found; echomark needs Python 3.11 (Debian 12 / Ubuntu: apt-get install python3.11)" >&2
  exit 2
fi
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "$PYTHON cannot create virtual environments; installing the venv package with apt-get" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  ver=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "python${ver}-venv" || \
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
HERE=$(cd "$(dirname "$0")/.." && pwd)
CONSTRAINTS="$HERE/constraints.txt"
# torch first (2.13.0 from constraints.txt; the CPU build where pip finds it, e.g. a local
# wheel or --extra-index-url https://download.pytorch.org/whl/cpu), so that nothing later
# pulls a multi-GB CUDA build.
"$VENV/bin/python" -m pip install -q -c "$CONSTRAINTS" torch
"$VENV/bin/python" -m pip install -q -c "$CONSTRAINTS" -e "$HERE[all,dev]"
# The annotator's browser tests drive Debian's chromium through Playwright (never a browser
# download): install it when missing.
bash "$(dirname "$0")/install-chromium.sh"

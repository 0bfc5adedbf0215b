#!/usr/bin/env bash
# Install Debian's chromium (for the `echomark serve` browser tests) when /usr/bin/chromium is
# missing. Playwright drives it through executable_path; no browser is ever downloaded.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing Debian's chromium with apt-get (for the annotator's browser tests)" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium || \
  echo "warning: chromium could not be installed; the browser tests will be skipped" >&2

#!/usr/bin/env bash
# Install the DICOM server and checker the PACS tests use: Debian's orthanc, orthanc-dicomweb
# and dicom3tools (dciodvfy). Installing orthanc normally starts a system-wide service; a
# policy-rc.d that exits 101 forbids that for the duration of the install (an existing one is
# kept as it was). Idempotent: does nothing when everything is present.
set -euo pipefail
PLUGIN=/usr/lib/orthanc/libOrthancDicomWeb.so.1.7
if command -v Orthanc >/dev/null 2>&1 && [ -e "$PLUGIN" ] && command -v dciodvfy >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: orthanc needs Debian/Ubuntu apt-get; install orthanc, orthanc-dicomweb, dicom3tools by hand" >&2
  exit 2
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
POLICY=/usr/sbin/policy-rc.d
ADDED=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# echomark install-orthanc.sh: no service starts during this install\nexit 101\n' \
    | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  ADDED=1
fi
cleanup() { if [ "$ADDED" = 1 ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  orthanc orthanc-dicomweb dicom3tools

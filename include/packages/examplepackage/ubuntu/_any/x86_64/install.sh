#!/bin/sh
# Distributor runs this as root from the folder it unpacked the zip into.
set -eu
cd "$(dirname "$0")"
dpkg -i ./*.deb

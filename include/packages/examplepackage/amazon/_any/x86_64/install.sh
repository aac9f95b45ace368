#!/bin/sh
# Distributor runs this as root from the folder it unpacked the zip into.
set -eu
cd "$(dirname "$0")"
# --replacepkgs makes a repeated install (State Manager re-applies it) succeed.
rpm -Uvh --replacepkgs ./*.rpm

#!/bin/sh
# Distributor runs this as root from the folder it unpacked the zip into.
set -eu
# Uninstalling what is not installed is success, so a retried uninstall does not fail.
if dpkg -s examplepackage >/dev/null 2>&1; then
    dpkg -r examplepackage
fi

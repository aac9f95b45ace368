#!/bin/sh
# Distributor runs this as root from the folder it unpacked the zip into.
set -eu
# Uninstalling what is not installed is success, so a retried uninstall does not fail.
if rpm -q examplepackage >/dev/null 2>&1; then
    rpm -e examplepackage
fi

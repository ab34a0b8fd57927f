#!/usr/bin/env bash
# Prints the path of schemathesis' `st`, installing it first into a cached virtualenv from PyPI, pinned with every
# dependency (scripts/schemathesis-requirements.txt; see scripts/pinned-venv.sh). For
# `ZEDGE_SCHEMATHESIS=$(scripts/schemathesis.sh)`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/pinned-venv.sh" schemathesis "$here/schemathesis-requirements.txt" st

#!/usr/bin/env bash
# Prints the path of vncdotool's `vncdo`, a real VNC client that can also capture the screen (the console tests of
# issue #16), installing it first into a cached virtualenv from PyPI, pinned with every dependency
# (scripts/vncdotool-requirements.txt; see scripts/pinned-venv.sh). The same virtualenv's python, with Pillow and
# websocket-client, runs Tests/Scripts/console_page.py. For `ZEDGE_VNCDO=$(scripts/vncdotool.sh)`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/pinned-venv.sh" vncdotool "$here/vncdotool-requirements.txt" vncdo

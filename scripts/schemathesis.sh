#!/usr/bin/env bash
# Prints the path of schemathesis' `st`, installing it first into a cached virtualenv from PyPI, pinned with every
# dependency (scripts/schemathesis-requirements.txt). A no-op when cached. Only the path goes to stdout (for
# `ZEDGE_SCHEMATHESIS=$(scripts/schemathesis.sh)`); progress to stderr.
#
#   ${ZEDGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zedge}/schemathesis/<key>/bin/st
# <key> = the first 16 hex digits of the SHA-256 of the requirements file and the Python version, so a change to
# either installs afresh. Needs python3-venv (scripts/ensure-deps.sh --with-schemathesis).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
requirements=$here/schemathesis-requirements.txt
key=$( (cat "$requirements"; python3 --version) | sha256sum | cut -c1-16)
base=${ZEDGE_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/zedge}/schemathesis
dir=$base/$key
# A venv's scripts name its directory in their #! line, so it is built in place; `.complete` marks a finished one.
if [ ! -e "$dir/.complete" ]; then
  mkdir -p "$base"
  exec 9>"$base/.lock"
  flock 9
  if [ ! -e "$dir/.complete" ]; then
    echo "schemathesis.sh: installing schemathesis into $dir" >&2
    rm -rf "$dir"
    python3 -m venv "$dir" >&2
    "$dir/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements" >&2
    "$dir/bin/st" --version >&2
    touch "$dir/.complete"
  fi
fi
echo "$dir/bin/st"

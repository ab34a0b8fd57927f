#!/usr/bin/env bash
# Usage: pinned-venv.sh NAME REQUIREMENTS PROGRAM
# Prints the path of PROGRAM in a cached virtualenv made from PyPI with REQUIREMENTS (every package pinned,
# installed with --no-deps), installing it first; a no-op when cached. Only the path goes to stdout; progress to
# stderr. Needs python3-venv (scripts/ensure-deps.sh --with-schemathesis).
#
#   ${ZEDGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zedge}/NAME/<key>/bin/PROGRAM
# <key> = the first 16 hex digits of the SHA-256 of the requirements file and the Python version, so a change to
# either installs afresh. A venv's scripts name its directory in their #! line, so it is built in place;
# `.complete` marks a finished one, and a lock keeps two runs from building it at once.
set -euo pipefail
name=$1 requirements=$2 program=$3
key=$( (cat "$requirements"; python3 --version) | sha256sum | cut -c1-16)
base=${ZEDGE_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/zedge}/$name
dir=$base/$key
if [ ! -e "$dir/.complete" ]; then
  mkdir -p "$base"
  exec 9>"$base/.lock"
  flock 9
  if [ ! -e "$dir/.complete" ]; then
    echo "pinned-venv.sh: installing $name into $dir" >&2
    rm -rf "$dir"
    python3 -m venv "$dir" >&2
    "$dir/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements" >&2
    "$dir/bin/$program" --version >&2
    touch "$dir/.complete"
  fi
fi
echo "$dir/bin/$program"

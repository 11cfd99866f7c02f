#!/usr/bin/env bash
# Installs the moto S3 server (PyPI `moto[server]`) that the `s3://` tests start, once, in a
# virtualenv under ~/.cache/rask/moto (or $RASK_MOTO_VENV), and prints the path of its
# `moto_server` binary. Idempotent: a second run only prints the path.
#   export RASK_MOTO_SERVER="$(scripts/s3-server.sh)"
set -euo pipefail
venv="${RASK_MOTO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/rask/moto}"
bin="$venv/bin/moto_server"
if ! [ -x "$bin" ] || ! "$venv/bin/python" -c 'import moto.server' >/dev/null 2>&1; then
    echo "installing the moto S3 server into $venv" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]>=5,<6" >&2
fi
echo "$bin"

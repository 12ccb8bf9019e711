#!/usr/bin/env bash
# One entry point for a fresh checkout: set up .venv, then run the app or the whole test suite.
#
#   ./dev.sh app [ARGS]    set up, export the default model (fp32 and int8) if missing, launch the desktop app
#   ./dev.sh test [ARGS]   set up, then ruff, the import contracts, mypy and the whole pytest suite (ARGS go to pytest)
#   ./dev.sh setup         only create/refresh .venv (and Qt's system libraries on Debian/Ubuntu)
#
# TORCH_SPEC picks the torch build: default "torch==2.13.0" (the CPU wheel on our machines); e.g.
# TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu126" for a CUDA build.
# PYTHON picks the interpreter a new .venv is made with (default python3; 3.10 or newer). No newer one
# is preferred: pyproject.toml gives every supported Python a PySide6 that keeps its references
# (below 6.12 on 3.10/3.11; see tests/desktop_app/view/test_qt_refcounts.py), and an existing .venv is
# brought into line by the install below. Delete .venv to start over with another PYTHON.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
PY=.venv/bin/python

# Debian packages Qt needs beyond what PySide6's wheel ships: fonts, and the xcb plugin's libraries.
QT_TEST_PACKAGES=(fonts-dejavu-core libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3)
QT_WINDOW_PACKAGES=(libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
    libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0)

system_packages() {
    command -v dpkg-query >/dev/null && command -v apt-get >/dev/null || return 0
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "please install: apt-get install ${missing[*]}" >&2; return 0; }
        sudo=(sudo)
    fi
    echo "installing system packages for Qt: ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Exit with a clear message unless interpreter $1 runs and is Python 3.10 or newer ($2 says what it is).
require_python() {
    local version
    if ! version=$("$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null); then
        echo "dev.sh: $2 ($1) does not run; set PYTHON to a Python 3.10 or newer, e.g. PYTHON=python3.12" >&2
        exit 2
    fi
    if ! "$1" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
        echo "dev.sh: $2 ($1) is Python $version; the workbench needs Python 3.10 or newer." >&2
        echo "dev.sh: set PYTHON to a newer one (e.g. PYTHON=python3.12 ./dev.sh setup), after rm -rf .venv if it exists" >&2
        exit 2
    fi
}

setup() {
    if [ -x "$PY" ]; then
        require_python "$PY" "the existing .venv"
    else
        require_python "${PYTHON:-python3}" "the interpreter for a new .venv"
        "${PYTHON:-python3}" -m venv .venv
    fi
    # shellcheck disable=SC2086  # TORCH_SPEC may hold several words (an --index-url)
    "$PY" -m pip install -q --disable-pip-version-check ${TORCH_SPEC:-torch==2.13.0}
    # -e re-resolves every dependency against pyproject.toml: an installed PySide6 outside its bounds
    # for this Python (6.12 on 3.11 aborts the window) is replaced by one within them.
    "$PY" -m pip install -q --disable-pip-version-check -e ".[dev]"
    system_packages "${QT_TEST_PACKAGES[@]}"
    "$PY" - <<'PYTHON'
import importlib.metadata
import sys

pyside = importlib.metadata.version("PySide6-Essentials")
print(f"dev.sh: .venv ready: Python {sys.version.split()[0]} ({sys.executable}), PySide6-Essentials {pyside}")
PYTHON
}

case "${1:-}" in
    setup)
        setup
        ;;
    app)
        setup
        system_packages "${QT_WINDOW_PACKAGES[@]}"
        "$PY" -m exporter export --default --skip-existing --quiet
        # the int8 file is extra: if it cannot be made, say so and start with the fp32 model
        "$PY" -m exporter export --default --precision int8 --skip-existing --quiet ||
            echo "dev.sh: the int8 export failed (see above); starting the app with the fp32 model" >&2
        if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "$(uname)" = Linux ]; then
            echo "no display found: starting the app on a virtual screen (Xvfb)" >&2
            system_packages xvfb xauth
            exec xvfb-run -a "$PY" -m desktop_app "${@:2}"
        fi
        exec "$PY" -m desktop_app "${@:2}"
        ;;
    test)
        setup
        "$PY" -m ruff check .
        .venv/bin/lint-imports
        "$PY" -m mypy
        # Both cores by default (pytest-xdist); pass "-n 0" to run in one process.
        QT_QPA_PLATFORM=offscreen "$PY" -m pytest -q -n auto --dist worksteal "${@:2}"
        ;;
    *)
        sed -n '2,9p' "$0" >&2
        exit 2
        ;;
esac

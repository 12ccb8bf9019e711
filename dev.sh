#!/usr/bin/env bash
# One entry point for a fresh checkout: set up .venv, then run the app or the whole test suite.
#
#   ./dev.sh app [ARGS]    set up, export the default model (fp32 and int8) if missing, launch the desktop app
#   ./dev.sh test [ARGS]   set up, then ruff, the import contracts and the whole pytest suite (ARGS go to pytest)
#   ./dev.sh setup         only create/refresh .venv (and Qt's system libraries on Debian/Ubuntu)
#
# TORCH_SPEC picks the torch build: default "torch==2.13.0" (the CPU wheel on our machines); e.g.
# TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu126" for a CUDA build.
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

setup() {
    [ -x "$PY" ] || "${PYTHON:-python3}" -m venv .venv
    # shellcheck disable=SC2086  # TORCH_SPEC may hold several words (an --index-url)
    "$PY" -m pip install -q --disable-pip-version-check ${TORCH_SPEC:-torch==2.13.0}
    "$PY" -m pip install -q --disable-pip-version-check -e ".[dev]"
    system_packages "${QT_TEST_PACKAGES[@]}"
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
        # Both cores by default (pytest-xdist); pass "-n 0" to run in one process.
        QT_QPA_PLATFORM=offscreen "$PY" -m pytest -q -n auto --dist worksteal "${@:2}"
        ;;
    *)
        sed -n '2,9p' "$0" >&2
        exit 2
        ;;
esac

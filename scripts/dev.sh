#!/usr/bin/env bash
# Lago Console developer entry point: installs what the build needs, then runs the console or the tests.
#   bash scripts/dev.sh run [lago-console arguments…]   build and run lago-console
#   bash scripts/dev.sh test [swift test arguments…]    build and run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."

export LANG="${LANG:-C.UTF-8}"
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-interactive=no}"

# System libraries the package links (Debian/Ubuntu names) and tools the tests drive.
need=()
dpkg -s libncurses-dev >/dev/null 2>&1 || need+=(libncurses-dev)
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need+=(libsqlite3-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need+=(zlib1g-dev)  # compress-nio (gzip OTLP bodies)
if [ "${1:-}" = "test" ]; then
    command -v tmux >/dev/null 2>&1 || need+=(tmux)
    command -v python3 >/dev/null 2>&1 || need+=(python3)
    python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "Installing ${need[*]} …" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

command -v swift >/dev/null 2>&1 || { echo "swift not found: install a Swift 6 toolchain (https://www.swift.org/install)" >&2; exit 1; }

mode="${1:-run}"
[ $# -gt 0 ] && shift
case "$mode" in
    run)
        swift build --product lago-console
        exec "$(swift build --show-bin-path)/lago-console" "$@"
        ;;
    test)
        # Python helpers for the interop tests (official Lago client, OpenAPI validation); best effort.
        pip_packages=(lago-python-client==1.55.0 pyyaml jsonschema openapi-schema-validator)
        if command -v python3 >/dev/null 2>&1 && ! python3 -c "import lago_python_client, yaml, jsonschema" 2>/dev/null; then
            python3 -m pip install -q "${pip_packages[@]}" 2>/dev/null \
                || python3 -m pip install -q --break-system-packages "${pip_packages[@]}" 2>/dev/null \
                || echo "warning: could not pip install the interop test helpers" >&2
        fi
        # The README's module diagram must match Package.swift.
        if command -v python3 >/dev/null 2>&1; then python3 scripts/module-graph.py --check; fi
        swift build --build-tests
        exec swift test --skip-build "$@"
        ;;
    *)
        echo "usage: bash scripts/dev.sh run|test [arguments…]" >&2
        exit 2
        ;;
esac

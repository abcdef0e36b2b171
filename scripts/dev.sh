#!/usr/bin/env bash
# Lago Console developer entry point: installs what the build needs, then runs the console or the tests.
#   bash scripts/dev.sh run [lago-console arguments…]   build and run lago-console
#   bash scripts/dev.sh test [swift test arguments…]    build and run the whole test suite
#   bash scripts/dev.sh install [PREFIX]                 build release and install lago-console in PREFIX/bin
#                                                        (PREFIX defaults to ~/.local), with bash/zsh/fish
#                                                        completions and the man page under PREFIX/share
#                                                        (LAGO_CONSOLE_BUILD=debug installs a debug build)
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
        # Python helpers for the interop tests (official Lago client, OpenAPI validation, the OpenTelemetry SDK and
        # its OTLP/HTTP exporter); best effort.
        pip_packages=(lago-python-client==1.55.0 pyyaml jsonschema openapi-schema-validator
            opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2)
        imports="import lago_python_client, yaml, jsonschema, opentelemetry.sdk"
        imports+=", opentelemetry.exporter.otlp.proto.http.trace_exporter"
        if command -v python3 >/dev/null 2>&1 && ! python3 -c "$imports" 2>/dev/null; then
            python3 -m pip install -q "${pip_packages[@]}" 2>/dev/null \
                || python3 -m pip install -q --break-system-packages "${pip_packages[@]}" 2>/dev/null \
                || echo "warning: could not pip install the interop test helpers" >&2
        fi
        # The README's module diagram must match Package.swift.
        if command -v python3 >/dev/null 2>&1; then python3 scripts/module-graph.py --check; fi
        swift build --build-tests
        exec swift test --skip-build "$@"
        ;;
    install)
        prefix="${1:-$HOME/.local}"
        configuration="${LAGO_CONSOLE_BUILD:-release}"
        swift build -c "$configuration" --product lago-console
        bin="$(swift build -c "$configuration" --show-bin-path)/lago-console"
        # The man page: swift-argument-parser's generate-manual plugin, from the command's own help.
        swift package plugin generate-manual --configuration "$configuration" >&2
        manual=".build/plugins/GenerateManual/outputs/lago-console/lago-console.1"
        bash_dir="$prefix/share/bash-completion/completions"
        zsh_dir="$prefix/share/zsh/site-functions"
        fish_dir="$prefix/share/fish/vendor_completions.d"
        man_dir="$prefix/share/man/man1"
        mkdir -p "$prefix/bin" "$bash_dir" "$zsh_dir" "$fish_dir" "$man_dir"
        install -m 0755 "$bin" "$prefix/bin/lago-console"
        "$bin" --generate-completion-script bash > "$bash_dir/lago-console"
        "$bin" --generate-completion-script zsh > "$zsh_dir/_lago-console"
        "$bin" --generate-completion-script fish > "$fish_dir/lago-console.fish"
        install -m 0644 "$manual" "$man_dir/lago-console.1"
        echo "installed $prefix/bin/lago-console ($configuration), completions for bash, zsh and fish, and man page $man_dir/lago-console.1"
        case ":$PATH:" in
            *":$prefix/bin:"*) ;;
            *) echo "note: $prefix/bin is not on PATH; add it (for example in ~/.profile: export PATH=\"$prefix/bin:\$PATH\")" ;;
        esac
        ;;
    *)
        echo "usage: bash scripts/dev.sh run|test|install [arguments…]" >&2
        exit 2
        ;;
esac

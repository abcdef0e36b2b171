#!/usr/bin/env bash
# Regenerates Sources/OTLPProto/*.pb.swift: the OTLP trace messages (ExportTraceServiceRequest and what it holds)
# generated from the published opentelemetry-proto release pinned below by protoc + protoc-gen-swift 1.39.0 (the
# version of the SwiftProtobuf runtime in Package.swift). Neither the .proto files nor the generator are committed.
#
#   bash scripts/generate-otlp.sh
#
# Needs git, protoc (Debian `protobuf-compiler`, installed here when missing) and a Swift toolchain.
# OTLP_PROTO_REPO overrides where opentelemetry-proto is cloned from (a local mirror, say); PROTOC_GEN_SWIFT names a
# protoc-gen-swift 1.39.0 built already (else it is built from swift-protobuf in a temporary directory).
set -euo pipefail

OTLP_PROTO_VERSION=v1.9.0
SWIFT_PROTOBUF_VERSION=1.39.0
OTLP_PROTO_REPO=${OTLP_PROTO_REPO:-https://github.com/open-telemetry/opentelemetry-proto.git}
SWIFT_PROTOBUF_REPO=${SWIFT_PROTOBUF_REPO:-https://github.com/apple/swift-protobuf.git}

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/Sources/OTLPProto"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! command -v protoc >/dev/null; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get install -y protobuf-compiler
fi

git clone --quiet --depth 1 --branch "$OTLP_PROTO_VERSION" "$OTLP_PROTO_REPO" "$work/otlp" 2>/dev/null \
    || git clone --quiet --branch "$OTLP_PROTO_VERSION" "$OTLP_PROTO_REPO" "$work/otlp"
plugin=${PROTOC_GEN_SWIFT:-}
if [ -z "$plugin" ]; then
    git clone --quiet --depth 1 --branch "$SWIFT_PROTOBUF_VERSION" "$SWIFT_PROTOBUF_REPO" "$work/swift-protobuf" \
        2>/dev/null || git clone --quiet --branch "$SWIFT_PROTOBUF_VERSION" "$SWIFT_PROTOBUF_REPO" "$work/swift-protobuf"
    (cd "$work/swift-protobuf" && swift build --product protoc-gen-swift >/dev/null)
    plugin="$work/swift-protobuf/.build/debug/protoc-gen-swift"
fi

protos=(
    opentelemetry/proto/common/v1/common.proto
    opentelemetry/proto/resource/v1/resource.proto
    opentelemetry/proto/trace/v1/trace.proto
    opentelemetry/proto/collector/trace/v1/trace_service.proto
)
rm -f "$out"/*.pb.swift
protoc --plugin=protoc-gen-swift="$plugin" -I "$work/otlp" \
    --swift_out="$out" --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
    "${protos[@]}"
echo "generated from opentelemetry-proto $OTLP_PROTO_VERSION with protoc-gen-swift $SWIFT_PROTOBUF_VERSION:"
ls "$out"

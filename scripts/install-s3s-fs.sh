#!/usr/bin/env bash
# Installs s3s-fs (crates.io), the S3 server the object-storage tests start: a small Rust
# server that keeps each bucket as a folder of files. 0.14.1 builds with this toolchain.
set -euo pipefail
if [ -x "$HOME/.cargo/bin/s3s-fs" ]; then
  exit 0
fi
cargo install s3s-fs --version 0.14.1 --features binary --locked

#!/usr/bin/env bash
# Refreshes the console's vendored browser libraries from npm, so `cargo build` itself never
# needs npm: crates/trainyard-server/assets/console/vendor/ is checked in and embedded in the
# binary. Run it after changing a version below, then commit the changed files.
#   uPlot (MIT): the resource charts of the job page.
set -euo pipefail
UPLOT_VERSION=1.6.32
cd "$(dirname "$0")/.."
dest=crates/trainyard-server/assets/console/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$UPLOT_VERSION" >/dev/null && tar xzf "uplot-$UPLOT_VERSION.tgz")
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$dest/"
cp "$tmp/package/LICENSE" "$dest/LICENSE.uPlot"
echo "uPlot $UPLOT_VERSION -> $dest"

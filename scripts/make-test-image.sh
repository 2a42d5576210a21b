#!/usr/bin/env bash
# Makes a small container image without any registry, for container-job tests and for trying
# custom-image jobs offline: busybox, bash and this host's Python 3 (standard library only),
# imported with `podman import`. Prints the image name.
#
#   bash scripts/make-test-image.sh [NAME]      (default localhost/trainyard-test:1)
#
# Installs podman, runc and busybox-static from Debian when missing, and puts the
# containers.conf beside this script in /etc/containers/ when none is there.
set -euo pipefail
name=${1:-localhost/trainyard-test:1}
here=$(dirname "$(readlink -f "$0")")
need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
command -v busybox >/dev/null || need+=(busybox-static)
[ -x /usr/bin/python3 ] || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -f /etc/containers/containers.conf ] || { mkdir -p /etc/containers; cp "$here/containers.conf" /etc/containers/; }
if podman image exists "$name"; then echo "$name"; exit 0; fi

root=$(mktemp -d); trap 'rm -rf "$root" "$root.tar"' EXIT
mkdir -p "$root"/{bin,usr/bin,usr/lib,tmp,proc,sys,dev,etc,home/work,lib64}
chmod 1777 "$root/tmp"
cp "$(command -v busybox)" "$root/bin/busybox"
for t in sh cat echo sleep mkdir ls env date touch rm cp mv grep sed head tail wc kill ps id pwd true false test; do
  ln -sf busybox "$root/bin/$t"
done
# bash and python with the shared libraries they load.
py=$(readlink -f /usr/bin/python3)
cp /bin/bash "$root/bin/bash"
cp "$py" "$root/usr/bin/python3"
ln -s python3 "$root/usr/bin/python"
libs=$( (ldd /bin/bash; ldd "$py"; ldd /usr/lib/python3*/lib-dynload/*.so 2>/dev/null) |
  awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/lib/ {print $1}' | sort -u)
for lib in $libs; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
pylib=$(ls -d /usr/lib/python3.[0-9]* | head -1)
mkdir -p "$root$pylib"
tar -C "$pylib" --exclude=test --exclude=tests --exclude=idlelib --exclude=tkinter \
  --exclude=ensurepip --exclude=site-packages --exclude=dist-packages --exclude=__pycache__ \
  -cf - . | tar -C "$root$pylib" -xf -
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"
tar -C "$root" -cf "$root.tar" .
podman import -q --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' "$root.tar" "$name" >/dev/null
echo "$name"

#!/usr/bin/env bash
# Makes a base image for the Containerfile without any registry: busybox, this host's Python 3
# (standard library only) and the shared libraries that Python and trainyard load, imported
# with `podman import`. Prints the image name.
#
#   bash scripts/make-base-image.sh [NAME [BINARY]]   (default localhost/trainyard-base:1;
#                                                      BINARY: whose libraries to add)
set -euo pipefail
name=${1:-localhost/trainyard-base:1}
binary=${2:-}
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
mkdir -p "$root"/{bin,usr/bin,usr/local/bin,tmp,proc,sys,dev,etc,var/lib,root,lib64}
chmod 1777 "$root/tmp"
cp "$(command -v busybox)" "$root/bin/busybox"
for t in sh cat echo sleep mkdir ls env date touch rm cp mv grep sed head tail wc kill ps id pwd true false test wget; do
  ln -sf busybox "$root/bin/$t"
done
py=$(readlink -f /usr/bin/python3)
cp "$py" "$root/usr/bin/python3"
ln -s python3 "$root/usr/bin/python"
# trainyard's own (libgcc_s for unwinding) besides Python's.
gcc_s=$(/sbin/ldconfig -p | awk '/libgcc_s\.so\.1 /{print $NF; exit}')
libs=$( (ldd "$py"; ldd /usr/lib/python3*/lib-dynload/*.so 2>/dev/null; [ -z "$binary" ] || ldd "$binary") |
  awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/lib/ {print $1}' | sort -u)
for lib in $libs $gcc_s; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
pylib=$(ls -d /usr/lib/python3.[0-9]* | head -1)
mkdir -p "$root$pylib"
tar -C "$pylib" --exclude=test --exclude=tests --exclude=idlelib --exclude=tkinter \
  --exclude=ensurepip --exclude=site-packages --exclude=dist-packages --exclude=__pycache__ \
  -cf - . | tar -C "$root$pylib" -xf -
[ -d /etc/ssl/certs ] && mkdir -p "$root/etc/ssl" && cp -rL /etc/ssl/certs "$root/etc/ssl/"
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"
tar -C "$root" -cf "$root.tar" .
podman import -q --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' "$root.tar" "$name" >/dev/null
echo "$name"

#!/usr/bin/env bash
# Build the local test image from Debian's busybox-static: no registry needed.
#
#   DOCKER_HOST=unix://... bash tests/engine/build-image.sh
#
# Tags the same image as nodediag-test/busybox:1 and aztecprotocol/aztec:2.1.2-fake, so the
# collector's discovery by image name sees the fake deployment as Aztec. Idempotent: when both
# tags exist it returns at once.
set -euo pipefail

BASE_TAG="nodediag-test/busybox:1"
AZTEC_TAG="aztecprotocol/aztec:2.1.2-fake"
BUSYBOX="${NODEDIAG_BUSYBOX:-/usr/bin/busybox}"

die() { echo "build-image.sh: $*" >&2; exit 1; }

[ -n "${DOCKER_HOST:-}" ] || die "DOCKER_HOST is not set: run 'eval \"\$(bash tests/engine/dockerd.sh start)\"' first"
command -v docker >/dev/null || die "docker CLI not found: run 'bash .ci/setup'"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
    || die "no Docker engine answers at $DOCKER_HOST: run 'bash tests/engine/dockerd.sh start'"

has_image() { docker image inspect "$1" >/dev/null 2>&1; }

if has_image "$BASE_TAG" && has_image "$AZTEC_TAG"; then
    exit 0
fi

if ! has_image "$BASE_TAG"; then
    [ -x "$BUSYBOX" ] || die "$BUSYBOX not found: run 'bash .ci/setup' (installs busybox-static)"
    file_out="$(LC_ALL=C file -b "$BUSYBOX" 2>/dev/null || true)"
    case "$file_out" in
        *dynamically*) die "$BUSYBOX is dynamically linked: install Debian's busybox-static" ;;
    esac

    rootfs="$(mktemp -d "${TMPDIR:-/tmp}/nodediag-rootfs.XXXXXX")"
    trap 'rm -rf "$rootfs"' EXIT
    mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home,var/log,var/tmp,proc,sys,dev,roles,data,www}
    chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
    chmod 700 "$rootfs/root"
    cp "$BUSYBOX" "$rootfs/bin/busybox"
    chmod 755 "$rootfs/bin/busybox"
    # one symlink per applet, at the path busybox itself reports (bin/sh, usr/sbin/httpd, ...)
    while IFS= read -r applet; do
        [ "$applet" = "bin/busybox" ] && continue
        mkdir -p "$rootfs/$(dirname "$applet")"
        ln -sf /bin/busybox "$rootfs/$applet"
    done < <("$BUSYBOX" --list-full)
    [ -L "$rootfs/bin/sh" ] || ln -s /bin/busybox "$rootfs/bin/sh"

    cat > "$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000:node:/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
    cat > "$rootfs/etc/group" <<'GROUP'
root:x:0:
node:x:1000:
nogroup:x:65534:
GROUP
    echo "root:*::0:::::" > "$rootfs/etc/shadow"
    chmod 600 "$rootfs/etc/shadow"
    mkdir -p "$rootfs/home/node"
    echo "hosts: files dns" > "$rootfs/etc/nsswitch.conf"
    printf 'NAME="nodediag test image"\nID=busybox\n' > "$rootfs/etc/os-release"
    : > "$rootfs/www/status"

    tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf - . \
        | docker import \
            --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'WORKDIR /' \
            --change 'CMD ["/bin/sh"]' \
            --message "nodediag test image from $(basename "$BUSYBOX")" \
            - "$BASE_TAG" >/dev/null
fi

docker tag "$BASE_TAG" "$AZTEC_TAG"
echo "built $BASE_TAG and $AZTEC_TAG" >&2

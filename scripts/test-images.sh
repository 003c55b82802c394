#!/usr/bin/env bash
# test-images.sh builds the local Docker images drover's tests run, without a
# registry: the engine on a test machine cannot pull, so the images are made
# from Debian packages and loaded with `docker import`.
#
#   drover-test/busybox:latest  a root filesystem holding only Debian's static
#                               busybox (/bin/busybox, every applet linked in
#                               /bin, /sbin, /usr/bin, /usr/sbin), /tmp,
#                               /workspace, and a passwd/group with root and
#                               nobody (65534:65534).
#   drover-test/busybox-tmp0755:latest
#                               the same with /tmp at mode 0755, as many
#                               images have it: what a job's /tmp is made of
#                               depends on the image's.
#
# Idempotent: an image already carrying this script's version label is kept,
# so tests may run it before every run. Bump IMAGE_VERSION when the contents
# change. Each image has a version of its own, so that a checkout with an
# older copy of this script does not rebuild the images of a newer one. Installs busybox-static with apt-get when it is missing (needs root
# or sudo). Exits non-zero with a message when Docker does not answer.
#
# Usage: scripts/test-images.sh [--force]
set -euo pipefail

IMAGE=drover-test/busybox:latest
IMAGE_VERSION=1
TMP0755_IMAGE=drover-test/busybox-tmp0755:latest
TMP0755_VERSION=1
LABEL=dev.drover.test-image

die() { echo "test-images: $*" >&2; exit 1; }

force=0
[[ "${1:-}" == "--force" ]] && force=1

command -v docker >/dev/null 2>&1 || die "the docker CLI is not installed"
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
	die "Docker does not answer (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}): start the engine or fix DOCKER_HOST"
fi

# Serialise concurrent runs (parallel test binaries, CI) so only one builds.
if command -v flock >/dev/null 2>&1 && [[ -z "${DROVER_TEST_IMAGES_LOCKED:-}" ]]; then
	export DROVER_TEST_IMAGES_LOCKED=1
	exec flock "${TMPDIR:-/tmp}/drover-test-images.lock" "$0" "$@"
fi

# current IMAGE VERSION: whether the image carries this version label.
current() {
	local have
	have=$(docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true)
	[[ $force == 0 && "$have" == "$2" ]]
}
if current "$IMAGE" "$IMAGE_VERSION" && current "$TMP0755_IMAGE" "$TMP0755_VERSION"; then
	echo "test-images: $IMAGE and $TMP0755_IMAGE are up to date"
	exit 0
fi

busybox=/bin/busybox
if ! dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
	echo "test-images: installing busybox-static"
	sudo=""
	if [[ $(id -u) != 0 ]]; then
		command -v sudo >/dev/null 2>&1 || die "busybox-static is missing and this is not root: apt-get install busybox-static"
		sudo="sudo -n"
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq || die "apt-get update failed"
	$sudo apt-get install -y -qq busybox-static >/dev/null || die "apt-get install busybox-static failed"
fi
[[ -x $busybox ]] || die "$busybox is missing after installing busybox-static"
# A dynamically linked busybox would not run in an image without libc.
# (glibc's ldd exits non-zero for a static binary.)
if command -v ldd >/dev/null 2>&1 && ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is not a static binary: is the busybox package installed instead of busybox-static?"
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/drover-test-image.XXXXXX")
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,root,workspace,tmp,var/tmp}
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 0700 "$root/root"
# /workspace is where drover bind-mounts the job's folder; left open so the
# image also works without a mount.
chmod 0777 "$root/workspace"
cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
# --list-full names each applet with its usual directory (bin/sh, sbin/ip,
# usr/bin/id ...); every one is a symlink to the single binary.
"$busybox" --list-full | while read -r applet; do
	[[ -z "$applet" || "$applet" == "bin/busybox" ]] && continue
	mkdir -p "$root/$(dirname "$applet")"
	ln -sf /bin/busybox "$root/$applet"
done
[[ -e "$root/bin/sh" ]] || die "busybox has no sh applet"

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
# Mount points the engine fills at run time; present so a read-only root
# filesystem still has them.
: >"$root/etc/hosts"
: >"$root/etc/hostname"
: >"$root/etc/resolv.conf"

# load_image NAME VERSION: loads the root filesystem as image NAME.
load_image() {
	tar --numeric-owner --owner=0 --group=0 -C "$root" -c . |
		docker import \
			--change 'CMD ["/bin/sh"]' \
			--change "LABEL $LABEL=$2" \
			--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			- "$1" >/dev/null || die "docker import of $1 failed"
	echo "test-images: built $1"
}
current "$IMAGE" "$IMAGE_VERSION" || load_image "$IMAGE" "$IMAGE_VERSION"
if ! current "$TMP0755_IMAGE" "$TMP0755_VERSION"; then
	chmod 0755 "$root/tmp"
	load_image "$TMP0755_IMAGE" "$TMP0755_VERSION"
fi

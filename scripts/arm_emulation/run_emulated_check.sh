#!/usr/bin/env bash
# Opt-in: run the TFLite models under emulated aarch64 (QEMU user mode in an arm64 Debian chroot)
# and check that int8 outputs are bit-identical to x86 and float outputs agree within tolerance.
#
# Usage (as root, on a Debian/Ubuntu x86_64 host; about 10 minutes the first time):
#   scripts/arm_emulation/run_emulated_check.sh [--tiny] [--n 20] [--images DIR] [MODEL.tflite ...]
#
#   MODEL ...     .tflite files (their .bundle.json sidecars are copied along);
#                 default: the bundled variants found by edge_runtime.available_variants()
#   --tiny        use the four variants of the tiny test classifier instead (tests/fixtures/tiny)
#   --images DIR  labelled folder (real/ fake/); default ../shared/data/faces140k_sample/test
#   --n N         number of images (half real, half fake); default 20
# Environment: ROOTFS (default /var/tmp/edge-detect-arm64), SUITE (bookworm), MIRROR,
#   QEMU_CPU (cortex-a72; cortex-a76 also works - QEMU's default "max" CPU has SME, and LiteRT's
#   int8 SME path gives wrong results under it), PYTHON (host python with edge_runtime deps),
#   FLOAT_TOL (1e-3, fp32/fp16 probabilities), DYNAMIC_TOL (5e-2: dynamic-range models quantize
#   activations at run time with each platform's own kernels, so they are not bit-reproducible).
#
# What it does: installs debootstrap + qemu-user-static if missing, registers binfmt for aarch64,
# debootstraps an arm64 rootfs once, puts python3 + a venv with ai-edge-litert, numpy and pillow in
# it (aarch64 wheels fetched by the host's pip), bind-mounts a Raspberry Pi 4 style /proc/cpuinfo
# (LiteRT crashes reading QEMU's), records the outputs on x86 and in the chroot, and compares.
# It measures no time: emulated timings are not ARM latency. Exit 0 = PASS, 1 = FAIL.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
ROOTFS=${ROOTFS:-/var/tmp/edge-detect-arm64}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
export QEMU_CPU=${QEMU_CPU:-cortex-a72}
FLOAT_TOL=${FLOAT_TOL:-1e-3}
DYNAMIC_TOL=${DYNAMIC_TOL:-5e-2}
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
IMAGES="$REPO/../shared/data/faces140k_sample/test"
N=20
TINY=0
MODELS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tiny) TINY=1 ;;
    --n) N=$2; shift ;;
    --images) IMAGES=$2; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) MODELS+=("$1") ;;
  esac
  shift
done

say() { echo "[arm-emulation] $*" >&2; }
die() { say "error: $*"; exit 2; }

[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot, mounts)"
[[ $(uname -m) == x86_64 ]] || die "meant for an x86_64 host (on an ARM machine just run the models)"
[[ -d "$IMAGES" ]] || die "no image folder $IMAGES (pass --images DIR)"

# 1. Tools.
if ! command -v debootstrap >/dev/null || [[ ! -x /usr/bin/qemu-aarch64-static ]]; then
  say "installing debootstrap qemu-user-static binfmt-support"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap qemu-user-static binfmt-support >&2
fi
if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
  update-binfmts --enable qemu-aarch64 || die "cannot register qemu-aarch64 with binfmt_misc"
fi
grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "binfmt qemu-aarch64 is disabled"

# 2. The rootfs (once).
if [[ ! -f "$ROOTFS/.edge-detect-rootfs-ok" ]]; then
  say "debootstrap $SUITE arm64 into $ROOTFS (several minutes)"
  rm -rf "$ROOTFS"
  debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >&2
  touch "$ROOTFS/.edge-detect-rootfs-ok"
fi

MOUNTS=()
cleanup() {
  local i
  for ((i=${#MOUNTS[@]}-1; i>=0; i--)); do umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" || true; done
}
trap cleanup EXIT
bind() {  # bind SRC DEST [ro]
  if [[ -d "$1" ]]; then mkdir -p "$2"; elif [[ ! -e "$2" ]]; then touch "$2"; fi
  mount --bind "$1" "$2"; MOUNTS+=("$2")
  if [[ "${3:-}" == ro ]]; then mount -o remount,bind,ro "$2"; fi
}

# 3. Python venv with the runtime's dependencies, from aarch64 wheels the host downloads, pinned
#    to the host's versions so both sides run the same LiteRT.
PYVER=$(chroot "$ROOTFS" /usr/bin/python3 -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')
GLIBC_MINOR=$(chroot "$ROOTFS" /usr/bin/python3 -c 'import platform; print(platform.libc_ver()[1].split(".")[1])')
PINS=$("$PYTHON" -c 'import importlib.metadata as m; print(" ".join(f"{p}=={m.version(p)}" for p in ("ai-edge-litert", "numpy", "pillow")))')
if [[ "$(cat "$ROOTFS/opt/venv/.edge-detect-ok" 2>/dev/null)" != "$PINS" ]]; then
  say "downloading aarch64 wheels for cp$PYVER, glibc 2.$GLIBC_MINOR: $PINS"
  rm -rf "$ROOTFS/opt/wheels" "$ROOTFS/opt/venv"
  mkdir -p "$ROOTFS/opt/wheels"
  # pip's --platform takes exact tags: list every manylinux tag this glibc can run.
  PLATFORMS=(--platform manylinux2014_aarch64 --platform linux_aarch64)
  for ((minor=17; minor<=GLIBC_MINOR; minor++)); do PLATFORMS+=(--platform "manylinux_2_${minor}_aarch64"); done
  # shellcheck disable=SC2086
  "$PYTHON" -m pip download -q --only-binary=:all: --implementation cp --python-version "$PYVER" \
    "${PLATFORMS[@]}" -d "$ROOTFS/opt/wheels" $PINS pip >&2
  say "creating the venv inside the rootfs (emulated pip, a few minutes)"
  bind /dev "$ROOTFS/dev"
  mount -t proc proc "$ROOTFS/proc"; MOUNTS+=("$ROOTFS/proc")
  chroot "$ROOTFS" /usr/bin/python3 -m venv --without-pip /opt/venv
  # pip itself runs straight from its wheel (the rootfs has no ensurepip wheel).
  PIPWHL=$(cd "$ROOTFS/opt/wheels" && ls pip-*.whl | head -1)
  # shellcheck disable=SC2086
  chroot "$ROOTFS" /opt/venv/bin/python "/opt/wheels/$PIPWHL/pip" install -q --no-index \
    --find-links /opt/wheels $PINS >&2
  echo "$PINS" > "$ROOTFS/opt/venv/.edge-detect-ok"
  cleanup; MOUNTS=()
fi

# 4. The models, copied (with sidecars) into a work folder both sides read.
WORK=$(mktemp -d /var/tmp/edge-detect-armcheck.XXXXXX)
mkdir -p "$WORK/models"
if [[ $TINY -eq 1 ]]; then
  say "copying the tiny test bundles (tests/fixtures/tiny)"
  "$PYTHON" "$REPO/scripts/arm_emulation/make_tiny_bundles.py" "$WORK/models" >&2
elif [[ ${#MODELS[@]} -eq 0 ]]; then
  mapfile -t MODELS < <(cd "$REPO" && "$PYTHON" -c \
    'from edge_runtime.registry import available_variants as a; print("\n".join(str(p) for p in a().values()))')
  [[ ${#MODELS[@]} -gt 0 && -n "${MODELS[0]}" ]] || die "no bundled variants found; pass .tflite files or --tiny"
fi
for m in "${MODELS[@]}"; do
  [[ -f "$m" ]] || die "$m: no such model file"
  cp "$m" "$WORK/models/"
  side="${m%.tflite}.bundle.json"
  [[ -f "$side" ]] && cp "$side" "$WORK/models/"
done
mapfile -t NAMES < <(cd "$WORK/models" && ls *.tflite)
say "models: ${NAMES[*]}"

# 5. x86 reference.
say "recording x86_64 outputs"
(cd "$WORK/models" && "$PYTHON" "$REPO/scripts/arm_emulation/check_outputs.py" run \
  --images "$IMAGES" --n "$N" --out "$WORK/x86_64.json" "${NAMES[@]}")

# 6. Emulated aarch64, with a Pi 4 (or Pi 5 for cortex-a76) /proc/cpuinfo.
if [[ $QEMU_CPU == cortex-a76 ]]; then
  PART=0xd0b; FEATURES="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
  BOARD="Raspberry Pi 5 Model B Rev 1.0"; REV=d04170; VAR=0x4; CREV=1
else
  PART=0xd08; FEATURES="fp asimd evtstrm crc32 cpuid"
  BOARD="Raspberry Pi 4 Model B Rev 1.4"; REV=d03114; VAR=0x0; CREV=3
fi
{
  for i in 0 1 2 3; do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' "$i" "$FEATURES"
    printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' "$VAR" "$PART" "$CREV"
  done
  printf 'Revision\t: %s\nSerial\t\t: 0000000000000000\nModel\t\t: %s\n' "$REV" "$BOARD"
} > "$WORK/cpuinfo"
bind /dev "$ROOTFS/dev"
bind /sys "$ROOTFS/sys" ro  # LiteRT's cpuinfo reads the CPU lists there
mount -t proc proc "$ROOTFS/proc"; MOUNTS+=("$ROOTFS/proc")
bind "$WORK/cpuinfo" "$ROOTFS/proc/cpuinfo"
bind "$REPO" "$ROOTFS/mnt/repo" ro
bind "$(cd "$IMAGES" && pwd)" "$ROOTFS/mnt/images" ro
bind "$WORK" "$ROOTFS/mnt/work"
say "recording emulated aarch64 outputs (QEMU_CPU=$QEMU_CPU)"
chroot "$ROOTFS" /bin/sh -c "cd /mnt/work/models && /opt/venv/bin/python \
  /mnt/repo/scripts/arm_emulation/check_outputs.py run --images /mnt/images --n $N \
  --out /mnt/work/aarch64.json ${NAMES[*]}"
cleanup; MOUNTS=()

# 7. Compare.
"$PYTHON" "$REPO/scripts/arm_emulation/check_outputs.py" compare --float-tol "$FLOAT_TOL" --dynamic-tol "$DYNAMIC_TOL" \
  "$WORK/x86_64.json" "$WORK/aarch64.json" | tee "$WORK/result.txt"
rc=${PIPESTATUS[0]}
say "records and result in $WORK"
exit "$rc"

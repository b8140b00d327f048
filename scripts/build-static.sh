#!/usr/bin/env bash
# Static (musl) release builds of `bootstrap` and `apigw-local` for Linux, exactly as the Dockerfile makes them.
#
# The same script runs in the Dockerfile's build stages and on a machine without Docker (scripts/check-stack.sh runs
# it and checks what it makes), so the container build is exercised even where no Docker engine runs.
#
# Why static musl: the function's image is public.ecr.aws/lambda/provided:al2023, whose glibc is 2.34. A binary linked
# against a newer glibc would fail to start there ("GLIBC_2.xx not found"). A statically linked musl binary depends
# on no libc at all, so it runs on provided:al2023, on Lambda's zip runtime and on a scratch image alike.
# Zig (through cargo-zigbuild) is the C compiler and linker for both musl targets, so the same command cross-builds
# arm64 on an amd64 machine (buildx runs this stage on $BUILDPLATFORM) and vice versa.
#
# Usage: scripts/build-static.sh [--arch amd64|arm64] [--libc musl|gnu] [--out DIR] [--setup | --deps-only RECIPE] BIN...
#   BIN          bootstrap | apigw-local (default: bootstrap)
#   --setup      only install the Rust target and the pinned cargo-zigbuild/Zig (the Dockerfile's tools layer)
#   --arch       Docker's architecture name (default: $TARGETARCH, else this machine's)
#   --libc       musl (default): static. gnu: dynamically linked against glibc, with Zig pinning the symbol versions
#                to glibc 2.34 (provided:al2023's), for where the musl target cannot be installed
#   --out DIR    where the binaries are copied (default: target/static/<arch>)
#   --deps-only RECIPE
#                build only the dependencies described by a cargo-chef recipe (the Dockerfile's cached layer)
# Environment: CARGO_ZIGBUILD (a cargo-zigbuild to use instead of the pinned one installed into .tools/zigbuild),
#              CARGO_TARGET_DIR (default: target), TOOLS_DIR (default: .tools).
set -euo pipefail

CARGO_ZIGBUILD_VERSION=0.24.1 # PyPI; brings its own Zig (PyPI ziglang)
ZIGLANG_VERSION=0.17.1

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

arch=${TARGETARCH:-}
libc=musl
out=
recipe=
setup_only=
bins=()
while [ $# -gt 0 ]; do
  case $1 in
    --arch) arch=$2; shift 2 ;;
    --libc) libc=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --deps-only) recipe=$2; shift 2 ;;
    --setup) setup_only=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build-static: unknown option $1" >&2; exit 2 ;;
    *) bins+=("$1"); shift ;;
  esac
done
[ ${#bins[@]} -gt 0 ] || bins=(bootstrap)

if [ -z "$arch" ]; then
  case $(uname -m) in
    x86_64|amd64) arch=amd64 ;;
    aarch64|arm64) arch=arm64 ;;
    *) echo "build-static: unsupported machine $(uname -m); pass --arch amd64|arm64" >&2; exit 2 ;;
  esac
fi
case $arch in
  amd64) cpu=x86_64 ;;
  arm64) cpu=aarch64 ;;
  *) echo "build-static: unsupported architecture '$arch' (amd64 or arm64)" >&2; exit 2 ;;
esac
case $libc in
  musl) triple=$cpu-unknown-linux-musl; zig_target=$triple ;;
  # cargo-zigbuild's glibc suffix: link against glibc 2.34's symbol versions whatever this machine's glibc is.
  gnu) triple=$cpu-unknown-linux-gnu; zig_target=$triple.2.34 ;;
  *) echo "build-static: unsupported libc '$libc' (musl or gnu)" >&2; exit 2 ;;
esac
out=${out:-target/static/$arch}

# The Rust standard library for the musl target (a rustup component; nothing to do when it is there already).
if ! rustup target list --installed | grep -qx "$triple"; then
  echo "build-static: adding Rust target $triple" >&2
  rustup target add "$triple"
fi

# cargo-zigbuild and Zig, pinned, in a venv of their own.
zigbuild=${CARGO_ZIGBUILD:-}
if [ -z "$zigbuild" ]; then
  venv=${TOOLS_DIR:-$root/.tools}/zigbuild
  stamp=$venv/.cargo-zigbuild-$CARGO_ZIGBUILD_VERSION-ziglang-$ZIGLANG_VERSION
  if [ ! -e "$stamp" ]; then
    echo "build-static: installing cargo-zigbuild $CARGO_ZIGBUILD_VERSION and ziglang $ZIGLANG_VERSION into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" "ziglang==$ZIGLANG_VERSION"
    touch "$stamp"
  fi
  zigbuild=$venv/bin/cargo-zigbuild
  # cargo-zigbuild finds Zig through `python3 -m ziglang` when no `zig` is on PATH: the venv's python has it.
  export PATH="$venv/bin:$PATH"
fi

if [ -n "$setup_only" ]; then
  "$zigbuild" --version >&2
  exit 0
fi

package_of() {
  case $1 in
    bootstrap) echo hello-lambda-otel ;;
    apigw-local) echo apigw-local ;;
    *) echo "build-static: unknown binary '$1' (bootstrap or apigw-local)" >&2; exit 2 ;;
  esac
}

if [ -n "$recipe" ]; then
  # The Dockerfile's dependency layer: cargo-chef builds every dependency of the recipe's workspace with the same
  # profile, target and linker as the real build below, so that build only compiles the workspace's own crates.
  exec cargo chef cook --release --locked --zigbuild --target "$zig_target" --recipe-path "$recipe"
fi

args=()
for bin in "${bins[@]}"; do
  args+=(-p "$(package_of "$bin")" --bin "$bin")
done

start=$(date +%s)
"$zigbuild" zigbuild --release --locked --target "$zig_target" "${args[@]}"
elapsed=$(( $(date +%s) - start ))

mkdir -p "$out"
for bin in "${bins[@]}"; do
  cp "${CARGO_TARGET_DIR:-target}/$triple/release/$bin" "$out/$bin"
  echo "build-static: $out/$bin ($(wc -c < "$out/$bin") bytes, $triple, ${elapsed}s)" >&2
done

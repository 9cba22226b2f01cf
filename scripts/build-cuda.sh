#!/usr/bin/env bash
# Build trm-tui with `--features cuda` on a machine that has no CUDA toolkit.
#
# A pinned CUDA 13.0.x toolkit (nvcc, headers, cccl, libdevice, cudart, cuBLAS, cuRAND, NVRTC)
# is installed from NVIDIA's PyPI wheels into a cache folder, laid out as the CUDA_HOME that
# candle's build expects (cudarc links the libraries dynamically, candle-kernels runs nvcc on
# candle's .cu kernels), and the release binary is built into target/cuda/release/trm-tui.
#
#   scripts/build-cuda.sh             install the toolkit if needed, then build
#   scripts/build-cuda.sh --nccl      the same with NCCL 2.30 (PyPI nvidia-nccl-cu13) and
#                                     `--features nccl` (the multi-GPU engine); the binary
#                                     then needs libnccl.so.2 at run time as well
#   scripts/build-cuda.sh --toolkit   install and check the toolkit only
#   scripts/build-cuda.sh --check     check an installed toolkit only (no download, no build)
#   scripts/build-cuda.sh --env       print the environment for running the built binary
#   scripts/build-cuda.sh -- ARGS     extra arguments for `cargo build`
#
# Settings (environment):
#   TRM_CUDA_DIR      the cache folder (default ${XDG_CACHE_HOME:-$HOME/.cache}/trm-tui/cuda-13.0)
#   CUDA_COMPUTE_CAP  the GPU architecture the kernels are compiled for (default 90: H100/H200)
#   PYTHON            the Python that runs pip (default python3)
#   TRM_MPI           1 to build the MPI engine into the GPU binary too (default 0)
#
# The toolkit stays at 13.0.x on purpose: nvcc 13.1 and later emit PTX that the 580 driver
# series (CUDA 13.0) cannot load.
set -euo pipefail

CUDA_SERIES=13.0
# Exact PyPI versions (CUDA 13.0 update 2 components; the `-cu13` names on PyPI are empty
# placeholders, the unsuffixed names carry the 13.x wheels). Every wheel unpacks into
# nvidia/cu13/{bin,include,lib,nvvm}.
PACKAGES=(
    nvidia-cuda-nvcc==13.0.88
    nvidia-nvvm==13.0.88
    nvidia-cuda-crt==13.0.88
    nvidia-cuda-runtime==13.0.96
    nvidia-cuda-nvrtc==13.0.88
    nvidia-cuda-cccl==13.0.85
    nvidia-curand==10.4.0.35
    nvidia-cublas==13.0.2.14
)
# NCCL for `--nccl` (cudarc binds the 2.30 API; the wheel unpacks into nvidia/nccl/{include,lib}).
NCCL_PACKAGE=nvidia-nccl-cu13==2.30.7
# Unversioned names the linker needs -> the versioned files the wheels ship.
SO_LINKS=(
    libcudart.so:libcudart.so.13
    libcublas.so:libcublas.so.13
    libcublasLt.so:libcublasLt.so.13
    libcurand.so:libcurand.so.10
    libnvrtc.so:libnvrtc.so.13
    libnvvm.so:libnvvm.so.4
)
# Files whose absence means the toolkit is incomplete.
REQUIRED=(
    bin/nvcc bin/ptxas bin/fatbinary bin/nvlink bin/cudafe++
    nvvm/bin/cicc nvvm/libdevice/libdevice.10.bc
    include/cuda.h include/cuda_runtime.h include/cuda_fp16.h include/cuda_bf16.h
    include/crt/host_config.h include/cccl/cuda/std/cstdint include/cccl/nv/target
    include/cublas_v2.h include/curand.h include/nvrtc.h
    lib/libcudart.so.13 lib/libcublas.so.13 lib/libcublasLt.so.13 lib/libcurand.so.10
    lib/libnvrtc.so.13 lib/libnvvm.so.4
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${TRM_CUDA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/trm-tui/cuda-$CUDA_SERIES}"
CUDA_HOME_DIR="$CACHE/cuda"
MARKER="$CACHE/.installed"
PYTHON="${PYTHON:-python3}"
COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"

NCCL_DIR="$CACHE/nccl"
NCCL_MARKER="$CACHE/.installed-nccl"
with_nccl=0

say() { printf '[build-cuda] %s\n' "$*" >&2; }
die() {
    printf '[build-cuda] error: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# The package list as written into the marker: a cache made with other pins is reinstalled.
pins() { printf '%s\n' "${PACKAGES[@]}"; }

toolkit_complete() {
    [[ -f "$MARKER" ]] || return 1
    [[ "$(cat "$MARKER")" == "$(pins)" ]] || return 1
    local f
    for f in "${REQUIRED[@]}"; do
        [[ -e "$CUDA_HOME_DIR/$f" ]] || return 1
    done
    return 0
}

install_toolkit() {
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON to a Python 3 with pip)"
    "$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip (install python3-pip)"
    mkdir -p "$CACHE"
    local tmp="$CACHE/.download.$$"
    rm -rf "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    say "installing CUDA $CUDA_SERIES from PyPI into $CACHE (about 700 MB of wheels):"
    pins | sed 's/^/[build-cuda]   /' >&2
    "$PYTHON" -m pip install --disable-pip-version-check --no-deps --only-binary=:all: \
        --no-compile --target "$tmp" "${PACKAGES[@]}" >&2 \
        || die "pip could not install the CUDA wheels (see above)"
    [[ -x "$tmp/nvidia/cu13/bin/nvcc" ]] || die "the wheels did not unpack into nvidia/cu13 as expected"
    rm -rf "$CUDA_HOME_DIR" "$MARKER"
    mv "$tmp/nvidia/cu13" "$CUDA_HOME_DIR"
    rm -rf "$tmp"
    trap - EXIT
    pins >"$MARKER"
    (layout)
    say "toolkit installed in $CUDA_HOME_DIR"
}

nccl_complete() {
    [[ -f "$NCCL_MARKER" && "$(cat "$NCCL_MARKER")" == "$NCCL_PACKAGE" ]] || return 1
    [[ -e "$NCCL_DIR/lib/libnccl.so.2" && -e "$NCCL_DIR/include/nccl.h" ]]
}

install_nccl() {
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON to a Python 3 with pip)"
    local tmp="$CACHE/.download-nccl.$$"
    rm -rf "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    say "installing $NCCL_PACKAGE from PyPI into $NCCL_DIR (about 300 MB)"
    "$PYTHON" -m pip install --disable-pip-version-check --no-deps --only-binary=:all: \
        --no-compile --target "$tmp" "$NCCL_PACKAGE" >&2 \
        || die "pip could not install $NCCL_PACKAGE (see above)"
    [[ -e "$tmp/nvidia/nccl/lib/libnccl.so.2" ]] || die "the NCCL wheel did not unpack into nvidia/nccl as expected"
    rm -rf "$NCCL_DIR" "$NCCL_MARKER"
    mv "$tmp/nvidia/nccl" "$NCCL_DIR"
    rm -rf "$tmp"
    trap - EXIT
    printf '%s\n' "$NCCL_PACKAGE" >"$NCCL_MARKER"
}

# NCCL's library and header inside CUDA_HOME, where cudarc's build links and the binary's
# runpath looks (idempotent).
layout_nccl() {
    local c="$CUDA_HOME_DIR"
    ln -sfn "$NCCL_DIR/lib/libnccl.so.2" "$c/lib/libnccl.so.2"
    ln -sfn libnccl.so.2 "$c/lib/libnccl.so"
    ln -sfn "$NCCL_DIR/include/nccl.h" "$c/include/nccl.h"
}

# Turn the unpacked wheels into a conventional CUDA_HOME (idempotent).
layout() {
    local c="$CUDA_HOME_DIR" pair
    cd "$c/lib"
    for pair in "${SO_LINKS[@]}"; do
        ln -sfn "${pair#*:}" "${pair%%:*}"
    done
    cd "$c"
    ln -sfn lib lib64
    # The classic nvvm/ layout (nvcc itself finds cicc and libdevice through nvcc.profile).
    mkdir -p nvvm/lib64 nvvm/include
    ln -sfn ../../lib/libnvvm.so.4 nvvm/lib64/libnvvm.so.4
    ln -sfn libnvvm.so.4 nvvm/lib64/libnvvm.so
    ln -sfn ../../include/nvvm.h nvvm/include/nvvm.h
    # nvcc.profile looks for headers and libraries under targets/x86_64-linux too.
    mkdir -p targets/x86_64-linux
    ln -sfn ../../include targets/x86_64-linux/include
    ln -sfn ../../lib targets/x86_64-linux/lib
    build_libcuda_stub
    cd "$ROOT"
}

# candle turns on cudarc's `dynamic-linking`: the binary links against libcuda.so (the driver
# API) at build time. The wheels do not ship the toolkit's link stub, so build one: every
# driver-API function of this toolkit's cuda.h as an empty symbol, with the driver's soname
# (libcuda.so.1), so the real driver library is the one loaded at run time. It lives in
# lib/stubs/, which must never be on LD_LIBRARY_PATH.
build_libcuda_stub() {
    local c="$CUDA_HOME_DIR" stub="$CUDA_HOME_DIR/lib/stubs/libcuda.so"
    if [[ -f "$stub" && "$stub" -nt "$c/include/cuda.h" ]]; then
        return 0
    fi
    command -v gcc >/dev/null || die "gcc not found (needed for the libcuda link stub and by nvcc)"
    mkdir -p "$c/lib/stubs"
    local work
    work="$(mktemp -d)"
    gcc -E -P -I"$c/include" -x c "$c/include/cuda.h" >"$work/pre.h" \
        || die "cannot preprocess $c/include/cuda.h"
    # cudaProfiler.h (not in the wheels) declares these three, which cudarc binds as well.
    {
        tr '\n' ' ' <"$work/pre.h" \
            | grep -oE '\bCUresult[[:space:]]+cu[A-Za-z0-9_]+[[:space:]]*\(' \
            | sed -E 's/^CUresult[[:space:]]+//; s/[[:space:]]*\($//'
        printf '%s\n' cuProfilerInitialize cuProfilerStart cuProfilerStop
    } | sort -u >"$work/symbols.txt"
    local n
    n="$(wc -l <"$work/symbols.txt")"
    ((n > 300)) || die "found only $n driver functions in cuda.h: the stub would be incomplete"
    sed -E 's/.*/int &(void) { return 999; }/' "$work/symbols.txt" >"$work/stub.c"
    gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stub" "$work/stub.c" \
        || die "cannot build the libcuda link stub"
    rm -rf "$work"
    say "built the libcuda link stub ($n driver functions) in $c/lib/stubs"
}

export_env() {
    export CUDA_HOME="$CUDA_HOME_DIR"
    export CUDA_PATH="$CUDA_HOME_DIR"
    export CUDA_ROOT="$CUDA_HOME_DIR"
    export PATH="$CUDA_HOME_DIR/bin:$PATH"
    export LD_LIBRARY_PATH="$CUDA_HOME_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export CUDA_COMPUTE_CAP="$COMPUTE_CAP"
    export CUDARC_CUDA_VERSION="${CUDA_SERIES/./0}0"
    # No MPI engine in the GPU binary unless asked (TRM_MPI=1): otherwise it would need
    # libmpi on every GPU machine; GPU jobs use nccl (or local).
    export TRM_MPI="${TRM_MPI:-0}"
    # candle's kernel builder uses half the cores by default; the kernels are most of the time.
    export CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-$(nproc 2>/dev/null || echo 2)}"
}

# Verify the toolkit: nvcc runs, is 13.0, and compiles a kernel using what candle's kernels
# use (fp16/bf16 headers, cuda::std from cccl) to PTX for the chosen architecture, and the
# linker finds every library cudarc and candle-kernels link.
check_toolkit() {
    local f missing=()
    for f in "${REQUIRED[@]}" lib/stubs/libcuda.so lib/libcudart.so lib/libcublas.so \
        lib/libcublasLt.so lib/libcurand.so lib/libnvrtc.so; do
        [[ -e "$CUDA_HOME_DIR/$f" ]] || missing+=("$f")
    done
    ((${#missing[@]} == 0)) || die "the toolkit in $CUDA_HOME_DIR lacks: ${missing[*]} (run scripts/build-cuda.sh --toolkit)"
    local version
    version="$("$CUDA_HOME_DIR/bin/nvcc" --version)" || die "$CUDA_HOME_DIR/bin/nvcc does not run"
    printf '%s\n' "$version" | grep -q "release $CUDA_SERIES," \
        || die "nvcc is not CUDA $CUDA_SERIES: $(printf '%s\n' "$version" | tail -n 2 | head -n 1)"
    local work
    work="$(mktemp -d)"
    cat >"$work/probe.cu" <<'EOF'
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cuda/std/cstdint>
#include <nv/target>
extern "C" __global__ void probe(const __nv_bfloat16 *x, __half *y, cuda::std::uint32_t n) {
    cuda::std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __float2half(__bfloat162float(x[i]) * 2.0f);
}
EOF
    (cd "$work" && "$CUDA_HOME_DIR/bin/nvcc" --gpu-architecture="compute_$COMPUTE_CAP" --ptx \
        -std=c++17 -O3 --expt-relaxed-constexpr probe.cu -o probe.ptx) \
        || die "nvcc cannot compile a test kernel (see above)"
    grep -q '^.version' "$work/probe.ptx" || die "nvcc wrote no PTX"
    local ptx_isa
    ptx_isa="$(grep -m1 '^.version' "$work/probe.ptx" | awk '{print $2}')"
    (cd "$work" && "$CUDA_HOME_DIR/bin/nvcc" --gpu-architecture="sm_$COMPUTE_CAP" -c -Xcompiler -fPIC \
        probe.cu -o probe.o) || die "nvcc cannot compile a test kernel to an object file"
    printf 'int main(void) { return 0; }\n' >"$work/main.c"
    local extra=()
    ((with_nccl)) && extra=(-lnccl)
    gcc "$work/main.c" -o "$work/linkprobe" -L"$CUDA_HOME_DIR/lib" -L"$CUDA_HOME_DIR/lib/stubs" \
        -Wl,--no-as-needed -lcuda -lcudart -lcublas -lcublasLt -lcurand -lnvrtc ${extra[@]+"${extra[@]}"} \
        || die "the CUDA libraries do not link"
    if ((with_nccl)); then
        printf '#include <nccl.h>\n#include <stdio.h>\nint main(void) { int v = 0; ncclGetVersion(&v); printf("%%d\\n", v); return v >= 23000 ? 0 : 1; }\n' >"$work/nccl.c"
        gcc "$work/nccl.c" -o "$work/ncclprobe" -I"$CUDA_HOME_DIR/include" -L"$CUDA_HOME_DIR/lib" \
            -L"$CUDA_HOME_DIR/lib/stubs" -lnccl -Wl,-rpath-link,"$CUDA_HOME_DIR/lib" \
            || die "a program calling NCCL does not compile and link"
        grep -q '#define NCCL_MINOR 30' "$CUDA_HOME_DIR/include/nccl.h" \
            || die "$CUDA_HOME_DIR/include/nccl.h is not NCCL 2.30 (the API cudarc binds)"
    fi
    rm -rf "$work"
    say "toolkit OK: $CUDA_HOME_DIR"
    say "  $(printf '%s\n' "$version" | grep -m1 '^Cuda compilation tools')"
    say "  test kernel compiled for sm_$COMPUTE_CAP (PTX ISA $ptx_isa); libraries link"
    ((with_nccl)) && say "  NCCL: $NCCL_PACKAGE (nccl.h and libnccl.so.2 link)"
    return 0
}

print_env() {
    cat <<EOF
export CUDA_HOME="$CUDA_HOME_DIR"
export PATH="$CUDA_HOME_DIR/bin:\$PATH"
export LD_LIBRARY_PATH="$CUDA_HOME_DIR/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
EOF
}

mode=build
cargo_args=()
while (($#)); do
    case "$1" in
    --check) mode=check ;;
    --toolkit) mode=toolkit ;;
    --nccl) with_nccl=1 ;;
    --env) mode=env ;;
    -h | --help)
        usage
        exit 0
        ;;
    --)
        shift
        cargo_args=("$@")
        break
        ;;
    *) die "unknown argument $1 (try --help)" ;;
    esac
    shift
done

case "$mode" in
env)
    print_env
    exit 0
    ;;
check)
    toolkit_complete || die "no complete CUDA $CUDA_SERIES toolkit in $CACHE (run scripts/build-cuda.sh --toolkit)"
    if ((with_nccl)); then
        nccl_complete || die "no NCCL in $NCCL_DIR (run scripts/build-cuda.sh --toolkit --nccl)"
        layout_nccl
    fi
    check_toolkit
    exit 0
    ;;
esac

if toolkit_complete; then
    say "CUDA $CUDA_SERIES toolkit already in $CACHE: no download"
    (layout)
else
    install_toolkit
fi
if ((with_nccl)); then
    if nccl_complete; then
        say "$NCCL_PACKAGE already in $NCCL_DIR: no download"
    else
        install_nccl
    fi
    layout_nccl
fi
check_toolkit
[[ "$mode" == toolkit ]] && exit 0

export_env
# The binary finds the toolkit's libraries without LD_LIBRARY_PATH on this machine (runpath);
# elsewhere, point LD_LIBRARY_PATH at a folder holding them.
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C link-arg=-Wl,-rpath,$CUDA_HOME_DIR/lib"
cd "$ROOT"
features=cuda
((with_nccl)) && features=nccl
say "building: cargo build --release --features $features --target-dir target/cuda ${cargo_args[*]:-}"
say "  CUDA_HOME=$CUDA_HOME CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP (a cold build takes a while: candle's CUDA kernels)"
start=$(date +%s)
cargo build --release --features "$features" --target-dir target/cuda ${cargo_args[@]+"${cargo_args[@]}"}
end=$(date +%s)
say "built target/cuda/release/trm-tui (features: $features) in $((end - start)) s"
((with_nccl)) && say "it has the nccl engine and needs libnccl.so.2 (found through the same runpath)"
say "it needs the NVIDIA driver (libcuda.so.1) at run time; the toolkit libraries are found through"
say "its runpath ($CUDA_HOME_DIR/lib) or LD_LIBRARY_PATH (scripts/build-cuda.sh --env)"

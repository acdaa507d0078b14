# Sourced by ci/gpu-check.sh: makes a CUDA toolchain usable for candle's
# `cuda` feature. Uses the nvcc on PATH (or under $CUDA_HOME / /usr/local/cuda)
# when there is one; otherwise installs NVIDIA's CUDA wheels from PyPI into a
# cached virtualenv (no downloads from anywhere else) and points nvcc, the
# headers and the link libraries at it.
#
# Sets: PATH, CUDA_ROOT, CUDA_PATH, CUDA_COMPUTE_CAP, LIBRARY_PATH,
# LD_LIBRARY_PATH. Reads: MEMSOAK_CACHE (default ~/.cache/memsoak),
# CUDA_WHEEL_VERSION (default 13.0: the CUDA major of drivers >= 580),
# CUDA_DRIVER_LIB (the driver's libcuda.so.1 where ldconfig does not list it).

cuda_env_fail() { echo "gpu-check: $*" >&2; exit 2; }

if [[ -z "${CUDA_COMPUTE_CAP:-}" ]]; then
    cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1)
    [[ -n "$cap" ]] || cuda_env_fail "nvidia-smi reports no compute capability (no GPU or driver)"
    export CUDA_COMPUTE_CAP=${cap/./}
fi

for dir in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
    if [[ -n "$dir" && -x "$dir/bin/nvcc" ]]; then
        export PATH="$dir/bin:$PATH"
        break
    fi
done

if ! command -v nvcc >/dev/null; then
    ver=${CUDA_WHEEL_VERSION:-13.0}
    venv="${MEMSOAK_CACHE:-$HOME/.cache/memsoak}/cuda-$ver"
    # NOTE: nvcc's own dependencies (nvvm, crt) are pinned to the same CUDA
    # release: a newer nvvm writes PTX that this ptxas rejects.
    reqs=("nvidia-cuda-nvcc==$ver.*" "nvidia-nvvm==$ver.*" "nvidia-cuda-crt==$ver.*"
          "nvidia-cuda-runtime==$ver.*" "nvidia-cuda-nvrtc==$ver.*" "nvidia-cublas==$ver.*"
          "nvidia-cuda-cccl==$ver.*" "nvidia-curand")
    if [[ "$(cat "$venv/.complete" 2>/dev/null)" != "${reqs[*]}" ]]; then
        echo "== installing CUDA $ver (nvcc, runtime, cuBLAS, cuRAND, NVRTC) from PyPI into $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv" || cuda_env_fail "python3 -m venv failed"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${reqs[@]}" \
            || cuda_env_fail "pip could not install the CUDA $ver wheels"
        echo "${reqs[*]}" > "$venv/.complete"
    fi
    root=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')
    [[ -x "$root/bin/nvcc" ]] || root=$(dirname "$(dirname "$(find "$venv" -path '*/bin/nvcc' | head -1)")")
    [[ -x "$root/bin/nvcc" ]] || cuda_env_fail "no nvcc in the CUDA wheels under $venv"
    # NOTE: the wheels ship versioned libraries only (libcublas.so.13); the
    # linker wants the unversioned names, and the driver's libcuda.so.1
    # lives with the driver, not in any wheel.
    links="$venv/link"
    mkdir -p "$links"
    for lib in "$root"/lib/lib*.so.*; do
        base=$(basename "$lib")
        ln -sf "$lib" "$links/${base%%.so.*}.so"
    done
    driver=${CUDA_DRIVER_LIB:-$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 /{print $NF; exit}')}
    for d in /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu /usr/lib64; do
        [[ -z "$driver" && -e "$d/libcuda.so.1" ]] && driver="$d/libcuda.so.1"
    done
    [[ -n "$driver" ]] || cuda_env_fail "no libcuda.so.1 (the NVIDIA driver's library) to link against"
    ln -sf "$driver" "$links/libcuda.so"
    export PATH="$root/bin:$PATH" CUDA_ROOT="$root" CUDA_PATH="$root"
    export LIBRARY_PATH="$links${LIBRARY_PATH:+:$LIBRARY_PATH}"
    export LD_LIBRARY_PATH="$root/lib:$links${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
nvcc --version | tail -1 >&2

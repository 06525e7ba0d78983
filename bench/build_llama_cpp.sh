#!/usr/bin/env bash
# Builds llama.cpp's `llama-bench` (CPU only: OpenMP, Release, -march=native) from the llama.cpp
# that the pinned llama-cpp-python sdist vendors, for the speed comparison in
# bench/run_llama_cpp_compare.sh. For benchmarks only: nothing of it is linked into kvscope.
#
#   bench/build_llama_cpp.sh [OUT_DIR]      (default: build-llama under the repository root)
#
# Steps, each skipped when its result is already there (so a second run only prints):
#   1. `pip download --no-deps --no-binary :all: llama-cpp-python==VERSION` into OUT_DIR/sdist
#   2. unpack it into OUT_DIR/src
#   3. configure OUT_DIR/build with CMake (no server, no tests, no examples, no network
#      downloads) and build only the llama-bench target
# Then prints the sdist version, the llama.cpp commit it vendors (from the sdist's CHANGELOG;
# the sdist carries no git history, so llama-bench itself reports build_commit "unknown"),
# and the path of the binary, which is OUT_DIR/bin/llama-bench (a link into the build). Also
# builds OUT_DIR/bin/llama-system-info from bench/llama_system_info.c: llama.cpp's CPU feature
# line, which llama-bench does not print; and OUT_DIR/bin/llama-cpp-version.txt, the version
# line, which bench/run_llama_cpp_compare.sh prints.
#
# Environment: JOBS (parallel compile jobs, default 2), NICE (niceness, default 10), PIP
# (default: python3 -m pip), LLAMA_CPP_PYTHON_VERSION (default: the pinned version below;
# change the pin here, not per run, so that every figure names the same llama.cpp).
set -euo pipefail

version="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$root/build-llama}"
jobs="${JOBS:-2}"
niceness="${NICE:-10}"
read -r -a pip <<<"${PIP:-python3 -m pip}"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
sdist_dir="$out/sdist"
src_parent="$out/src"
src="$src_parent/llama_cpp_python-$version"
llama_src="$src/vendor/llama.cpp"
build="$out/build-$version"
bin="$build/bin/llama-bench"

die() {
  echo "build_llama_cpp.sh: $*" >&2
  exit 2
}

# 1. The sdist. pip prepares its metadata, which installs the build backend into a throwaway
#    environment: the download takes minutes although the file is ~75 MB.
tarball="$sdist_dir/llama_cpp_python-$version.tar.gz"
if [[ ! -f "$tarball" ]]; then
  mkdir -p "$sdist_dir"
  echo "downloading the llama-cpp-python $version sdist"
  "${pip[@]}" download --no-deps --no-binary :all: "llama-cpp-python==$version" \
    -d "$sdist_dir.part" >&2 || die "pip could not download llama-cpp-python==$version"
  [[ -f "$sdist_dir.part/llama_cpp_python-$version.tar.gz" ]] ||
    die "pip left no llama_cpp_python-$version.tar.gz in $sdist_dir.part"
  mv "$sdist_dir.part/llama_cpp_python-$version.tar.gz" "$tarball"
  rm -rf "$sdist_dir.part"
fi

# 2. Unpacked into a scratch folder first, renamed when complete.
if [[ ! -f "$llama_src/CMakeLists.txt" ]]; then
  echo "unpacking $tarball"
  rm -rf "$src_parent.part"
  mkdir -p "$src_parent.part" "$src_parent"
  tar -xzf "$tarball" -C "$src_parent.part"
  [[ -f "$src_parent.part/llama_cpp_python-$version/vendor/llama.cpp/CMakeLists.txt" ]] ||
    die "$tarball has no vendor/llama.cpp/CMakeLists.txt"
  rm -rf "$src"
  mv "$src_parent.part/llama_cpp_python-$version" "$src"
  rm -rf "$src_parent.part"
fi

# The llama.cpp commit this sdist vendors: the first "update llama.cpp to ...@HASH" line of
# the CHANGELOG section of this version.
commit="$(awk -v v="[$version]" '
  index($0, "## ") == 1 { in_section = (index($0, v) > 0); next }
  in_section && match($0, /llama\.cpp@[0-9a-f]+/) { print substr($0, RSTART + 10, RLENGTH - 10); exit }
' "$src/CHANGELOG.md" 2>/dev/null || true)"
commit="${commit:-unknown}"

# 3. Configure and build only llama-bench. Git is pointed at /bin/false so that llama.cpp's
#    build-info does not report the commit of whatever repository OUT_DIR sits inside.
if [[ ! -x "$bin" ]]; then
  command -v cmake >/dev/null || die "cmake not found (scripts/setup.sh installs it)"
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  launcher=()
  command -v ccache >/dev/null &&
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  echo "configuring llama.cpp $commit in $build"
  nice -n "$niceness" cmake -S "$llama_src" -B "$build" "${generator[@]}" "${launcher[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DGIT_EXECUTABLE=/bin/false \
    -DGGML_NATIVE=ON -DGGML_OPENMP=ON -DGGML_CPU=ON \
    -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_BLAS=OFF -DGGML_RPC=OFF \
    -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >"$out/configure.log" 2>&1 ||
    { tail -n 30 "$out/configure.log" >&2; die "cmake configure failed (log: $out/configure.log)"; }
  echo "building llama-bench with $jobs jobs (log: $out/build.log)"
  nice -n "$niceness" cmake --build "$build" --target llama-bench -j "$jobs" >"$out/build.log" 2>&1 ||
    { tail -n 30 "$out/build.log" >&2; die "build failed (log: $out/build.log)"; }
  [[ -x "$bin" ]] || die "the build finished but $bin is not there"
fi

# 4. llama-system-info (bench/llama_system_info.c): llama.cpp's CPU feature line, linked
#    against the static libraries the llama-bench build left.
sysinfo="$build/bin/llama-system-info"
if [[ ! -x "$sysinfo" || "$here/llama_system_info.c" -nt "$sysinfo" ]]; then
  mapfile -t libs < <(find "$build" -name 'libllama.a' -o -name 'libggml*.a' | sort)
  [[ ${#libs[@]} -gt 0 ]] || die "no libllama.a / libggml*.a under $build"
  nice -n "$niceness" "${CXX:-c++}" -O2 -x c "$here/llama_system_info.c" -x none \
    -I "$llama_src/include" -I "$llama_src/ggml/include" \
    -Wl,--start-group "${libs[@]}" -Wl,--end-group -fopenmp -lpthread -ldl -lm \
    -o "$sysinfo" || die "could not build $sysinfo"
fi

mkdir -p "$out/bin"
ln -sfn "$bin" "$out/bin/llama-bench"
ln -sfn "$sysinfo" "$out/bin/llama-system-info"
echo "llama-cpp-python $version, llama.cpp commit $commit" | tee "$out/bin/llama-cpp-version.txt"
echo "llama-bench: $out/bin/llama-bench"

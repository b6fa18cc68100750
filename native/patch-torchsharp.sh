#!/usr/bin/env bash
# Makes TorchSharp-cpu 0.107's libLibTorchSharp.so load on systems whose libstdc++ lacks GLIBCXX_3.4.32
# (Debian 12 ships up to 3.4.30). It needs that version for one symbol, std::ios_base_library_init(), a GCC 13
# marker; a no-op stand-in is correct because libtorch initialises the standard streams itself.
# Run by MSBuild after every build of a project that carries TorchSharp (native/TorchSharpDebianFix.targets),
# on the copies of the library in that project's output folder (TorchSharp looks in cpu/ and
# runtimes/<rid>/native/). Idempotent; does nothing where not needed.
#   patch-torchsharp.sh OUTPUT_DIR
set -euo pipefail
out=${1:?usage: patch-torchsharp.sh OUTPUT_DIR}
mapfile -t libs < <(find "$out" -name libLibTorchSharp.so -type f 2>/dev/null)
[ ${#libs[@]} -gt 0 ] || exit 0
here=$(cd "$(dirname "$0")" && pwd)
build="$here/build"

libstdcxx=$( (ldconfig -p 2>/dev/null || true) | awk '/libstdc\+\+\.so\.6 .*x86-64|libstdc\+\+\.so\.6 .*AArch64|libstdc\+\+\.so\.6 \(libc6\)/ {print $NF; exit}')
[ -n "$libstdcxx" ] || libstdcxx=$(ls /usr/lib/*-linux-gnu/libstdc++.so.6 2>/dev/null | head -1 || true)
if [ -n "$libstdcxx" ] && grep -q 'GLIBCXX_3\.4\.32' "$libstdcxx"; then
  exit 0 # the system libstdc++ has the version: nothing to do
fi

shim="$build/libhpcrpa_glibcxx_shim.so"
tool="$build/elf-weaken-verneed"
mkdir -p "$build"
if [ ! -f "$shim" ] || [ "$here/glibcxx-shim/ios_base_shim.cpp" -nt "$shim" ]; then
  g++ -shared -fPIC -O2 -o "$shim.tmp" "$here/glibcxx-shim/ios_base_shim.cpp" && mv "$shim.tmp" "$shim"
fi
if [ ! -x "$tool" ] || [ "$here/elf-weaken-verneed/weaken_verneed.c" -nt "$tool" ]; then
  gcc -O2 -Wall -o "$tool.tmp" "$here/elf-weaken-verneed/weaken_verneed.c" && mv "$tool.tmp" "$tool"
fi
if ! command -v patchelf >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf) >/dev/null
  else
    echo "error: TorchSharp needs GLIBCXX_3.4.32, which $libstdcxx lacks; install patchelf (apt-get install patchelf) so the build can patch ${libs[*]}" >&2
    exit 1
  fi
fi

for lib in "${libs[@]}"; do
  cp -f "$shim" "$(dirname "$lib")/"
  if patchelf --print-needed "$lib" | grep -qx 'libhpcrpa_glibcxx_shim.so'; then
    continue # this copy is already patched
  fi
  "$tool" "$lib" GLIBCXX_3.4.32 >/dev/null
  patchelf --clear-symbol-version _ZSt21ios_base_library_initv "$lib"
  patchelf --add-needed libhpcrpa_glibcxx_shim.so "$lib"
  echo "patched $lib for $libstdcxx (no GLIBCXX_3.4.32): weak version need + no-op ios_base_library_init shim"
done

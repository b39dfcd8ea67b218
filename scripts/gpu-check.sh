#!/usr/bin/env bash
# Issue 7's check on a real NVIDIA GPU: the GPU bindings of the backend op suites (tests/Backends.Tests) run on
# CUDA, then the GPU rows of the speed benchmark (perf/GpuBench: B1 with cuBLAS SGEMM as the peer, B2, B3, B4, B7)
# and the same rows in PyTorch on the same GPU (perf/GpuBench/torch_peer.py, where python3 has torch); everything
# lands in one results file, gpu-check.md (the full test log in tests.log). About 2.5 minutes on an H100 or H200
# (at most 7.5 with its timeouts).
#
#   scripts/gpu-check.sh bundle [REV]    where the .NET SDK is (our dev machines): build and pack into .gpucheck/
#                                        (git-ignored) what a GPU machine without .NET needs: the test assembly, the
#                                        xunit console runner, the benchmark and a .NET runtime; with REV, also the
#                                        benchmark as of that commit, run after ours on the same machine (an A/B).
#   scripts/gpu-check.sh [RESULTS_DIR]   on the GPU machine: builds with the SDK if there is one, else runs the
#                                        bundle; results in RESULTS_DIR (default: $OUT if set, else ./gpu-check-out).
#   scripts/gpu-check.sh smoke           here: the same run on ILGPU's CPU accelerator with small sizes, to check
#                                        the script and the bundle before spending GPU time.
#
# With the device tool: bundle here, then run `bash scripts/gpu-check.sh` there with carry [".gpucheck"].
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bundle=$root/.gpucheck

make_bundle() {
  set -e
  rm -rf "$bundle" && mkdir -p "$bundle"
  dotnet build tests/Backends.Tests -c Release -nologo -v q
  dotnet publish perf/GpuBench -c Release -nologo -v q -o "$bundle/bench"
  cp -r tests/Backends.Tests/bin/Release/net10.0 "$bundle/tests"
  # The xunit v2 console runner (runs the test assembly with nothing but the .NET runtime).
  local tmp; tmp=$(mktemp -d)
  cat > "$tmp/get.csproj" <<'EOF'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="xunit.runner.console" Version="[2.4.1]" /></ItemGroup>
</Project>
EOF
  dotnet restore "$tmp/get.csproj" -nologo -v q
  rm -rf "$tmp"
  cp -r "${NUGET_PACKAGES:-$HOME/.nuget/packages}/xunit.runner.console/2.4.1/tools/netcoreapp2.0" "$bundle/xunit"
  # The runtime: the dotnet host, hostfxr and Microsoft.NETCore.App of this SDK.
  local dn; dn=$(dirname "$(readlink -f "$(command -v dotnet)")")
  local fx; fx=$(ls "$dn/shared/Microsoft.NETCore.App" | sort -V | tail -1)
  tar -C "$dn" -cJf "$bundle/dotnet.tar.xz" dotnet host "shared/Microsoft.NETCore.App/$fx"
  git describe --always --dirty > "$bundle/commit" 2>/dev/null || true
  if [ -n "${1:-}" ]; then
    local base; base=$(mktemp -d)
    git worktree add --detach "$base" "$1" > /dev/null
    dotnet publish "$base/perf/GpuBench" -c Release -nologo -v q -o "$bundle/bench-base"
    git -C "$base" rev-parse --short HEAD > "$bundle/bench-base/commit"
    git worktree remove --force "$base"
  fi
  du -sh "$bundle"
}

# Names of the GPU-bound test classes (Gpu* bindings, the device and training tests).
gpu_classes() {
  grep -rhoE 'public sealed class (Gpu[A-Za-z]+|DeviceTests|TrainingTests)\b' tests/Backends.Tests/*.cs | awk '{print $4}' | sort -u
}

# ILGPU 1.5.3 loads the driver as libcuda.so and cuBLAS as libcublas.so.10/11/12. Driver mounts often carry only
# libcuda.so.1, and a CUDA 13 image only libcublas.so.13 (its v2 entry points, the ones ILGPU calls, are unchanged):
# link what is there under the names ILGPU asks for, in a folder of our own on LD_LIBRARY_PATH.
link_cuda_libraries() {
  local dir=/tmp/gpucheck-lib; mkdir -p "$dir"
  local cuda; cuda=$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 /{print $NF; exit}')
  [ -n "$cuda" ] || cuda=$(find /usr/local/nvidia /usr/lib/x86_64-linux-gnu /usr/lib64 -name 'libcuda.so.1' 2>/dev/null | grep -v stubs | head -1)
  [ -n "$cuda" ] && ln -sf "$cuda" "$dir/libcuda.so"
  local blas; blas=$(ldconfig -p 2>/dev/null | awk '/libcublas\.so\.1[0-9] /{print $NF}' | sort -V | tail -1)
  [ -n "$blas" ] || blas=$(find /usr/local /usr/lib /opt -name 'libcublas.so.1[0-9]' -not -path '*/stubs/*' 2>/dev/null | sort -V | tail -1)
  if [ -n "$blas" ]; then
    ln -sf "$blas" "$dir/libcublas.so.12"
    export LD_LIBRARY_PATH="$dir:$(dirname "$blas")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  else
    export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  echo "libcuda: ${cuda:-not found}; cuBLAS: ${blas:-not found} (as libcublas.so.12)"
}

run_checks() {
  local out=$1 mode=$2
  mkdir -p "$out"
  local report=$out/gpu-check.md
  local bench_args=()
  if [ "$mode" = smoke ]; then
    export MLX_GPU_TESTS=cpu-accelerator
    bench_args=(--cpu-accelerator --reps 3)
  else
    export MLX_GPU_TESTS=gpu
  fi
  {
    # The bundle's own commit where there is one: the GPU machine's copy of .git may be older than its working tree.
    local commit; commit=$(cat "$bundle/commit" 2>/dev/null || git describe --always --dirty 2>/dev/null || echo '?')
    echo "# gpu-check $(date -u '+%Y-%m-%d %H:%M') UTC, commit $commit, mode $mode"
    echo
    echo '```'
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "no nvidia-smi"
    [ "$mode" = smoke ] || link_cuda_libraries
    echo '```'
  } > "$report"
  local dotnet_cmd tests_cmd
  if dotnet --list-sdks 2>/dev/null | grep -q .; then
    dotnet build tests/Backends.Tests -c Release -nologo -v q > "$out/build.log" 2>&1 && dotnet build perf/GpuBench -c Release -nologo -v q >> "$out/build.log" 2>&1 \
      || { echo "build failed: see build.log" >> "$report"; return 1; }
    local filter; filter=$(gpu_classes | sed 's/^/FullyQualifiedName~Mlx.Backends.Tests./' | paste -sd'|')
    tests_cmd=(dotnet test tests/Backends.Tests -c Release --no-build -nologo --filter "$filter" --logger "console;verbosity=normal")
    dotnet_cmd=(dotnet perf/GpuBench/bin/Release/net10.0/GpuBench.dll)
  else
    [ -f "$bundle/dotnet.tar.xz" ] || { echo "no .NET SDK and no bundle: run 'scripts/gpu-check.sh bundle' where the SDK is, carry .gpucheck" | tee -a "$report"; return 1; }
    local rt=/tmp/gpucheck-dotnet
    mkdir -p "$rt" && tar -C "$rt" -xJf "$bundle/dotnet.tar.xz"
    export DOTNET_ROOT=$rt DOTNET_ROLL_FORWARD=Major DOTNET_CLI_TELEMETRY_OPTOUT=1
    local classes=(); for c in $(gpu_classes); do classes+=(-class "Mlx.Backends.Tests.$c"); done
    tests_cmd=("$rt/dotnet" "$bundle/xunit/xunit.console.dll" "$bundle/tests/Mlx.Backends.Tests.dll" "${classes[@]}" -noshadow -nocolor -parallel none)
    dotnet_cmd=("$rt/dotnet" "$bundle/bench/GpuBench.dll")
  fi
  local t0=$SECONDS
  {
    echo; echo "## Backend op suites on the GPU"; echo; echo '```'
    timeout 240 "${tests_cmd[@]}" > "$out/tests.log" 2>&1
    local status=$?
    grep -vE '^\s+(at |\[xUnit.net)' "$out/tests.log" | tail -60
    echo "exit status $status, $((SECONDS - t0)) s (full log: tests.log)"
    echo '```'
  } >> "$report"
  t0=$SECONDS
  {
    echo; echo "## Benchmark (perf/GpuBench)"; echo
    timeout 120 "${dotnet_cmd[@]}" "${bench_args[@]}" 2>&1 | tail -40
    echo; echo "(benchmark: $((SECONDS - t0)) s)"
    if [ -f "$bundle/bench-base/GpuBench.dll" ]; then
      t0=$SECONDS
      local host=dotnet; [ -n "${rt:-}" ] && host=$rt/dotnet
      echo; echo "## Benchmark at the base commit $(cat "$bundle/bench-base/commit"), same machine"; echo
      timeout 120 "$host" "$bundle/bench-base/GpuBench.dll" "${bench_args[@]}" 2>&1 | tail -40
      echo; echo "(base benchmark: $((SECONDS - t0)) s)"
    fi
  } >> "$report"
  if [ "$mode" != smoke ] && command -v python3 > /dev/null; then
    t0=$SECONDS
    {
      echo; echo "## Peer: PyTorch on the same GPU (perf/GpuBench/torch_peer.py)"; echo
      timeout 90 python3 perf/GpuBench/torch_peer.py 2>&1 | tail -20
      echo; echo "(peer: $((SECONDS - t0)) s)"
    } >> "$report"
  fi
  cat "$report"
}

case "${1:-}" in
  bundle) make_bundle "${2:-}" ;;
  smoke) run_checks "${2:-$root/gpu-check-smoke}" smoke ;;
  *) run_checks "${1:-${OUT:-$root/gpu-check-out}}" gpu ;;
esac

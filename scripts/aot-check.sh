#!/usr/bin/env bash
# Publishes a small Mlx.Core program (tests/Backends.Tests/LoadProbe) with NativeAOT, warnings as errors, and runs it:
# Core computes on the CPU, and ILGPU (not AOT-compatible) is trimmed away: the GPU switch is off under NativeAOT.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
dotnet publish tests/Backends.Tests/LoadProbe -c Release -r linux-x64 -p:PublishAot=true -p:TreatWarningsAsErrors=true -nologo -v q -o "$out"
"$out/Mlx.Backends.Tests.LoadProbe" | tee "$out/probe.txt"
if grep -qw ILGPU "$out/probe.txt"; then echo "ILGPU was loaded in the NativeAOT build"; exit 1; fi
echo "NativeAOT: $(du -h "$out/Mlx.Backends.Tests.LoadProbe" | cut -f1) binary, no ILGPU"

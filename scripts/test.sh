#!/usr/bin/env bash
# The README's test command: builds the solution and runs every test project, writing TRX files to $1.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-TestResults}"
mkdir -p "$out"
dotnet build Mlx.Managed.sln -c Release -nologo -v q || exit 2
status=0
for proj in tests/*/*.csproj; do
  name=$(basename "$proj" .csproj)
  dotnet test "$proj" -c Release --no-build -nologo -v q \
    --logger "trx;LogFileName=$(realpath "$out")/$name.trx" --logger "console;verbosity=minimal" || status=1
done
# The kernels again as on CPUs without AVX-512 (the Vector256 paths) and without AVX (the scalar fallbacks): the JIT
# reports the disabled instruction sets as unsupported, so the same tests take the other code paths.
for isa in "avx2:DOTNET_EnableAVX512=0" "scalar:DOTNET_EnableAVX=0"; do
  env ${isa#*:} dotnet test tests/Kernels.Tests/Mlx.Kernels.Tests.csproj -c Release --no-build -nologo -v q \
    --logger "trx;LogFileName=$(realpath "$out")/Mlx.Kernels.Tests.${isa%%:*}.trx" --logger "console;verbosity=minimal" || status=1
done
exit $status

#!/usr/bin/env bash
# Fuzz the Mlx.Formats readers.
#
#   fuzz/run.sh mutate [SECONDS]        built-in random mutator over fuzz/corpus (no AFL needed)
#   fuzz/run.sh afl FORMAT [SECONDS]    AFL++ with SharpFuzz instrumentation; FORMAT: npy npz safetensors gguf
#   fuzz/run.sh replay FILE...          re-run saved inputs (AFL crashes, mutate findings)
#
# AFL mode needs afl++ (Debian: apt-get install afl++) and the SharpFuzz CLI
# (dotnet tool install --global SharpFuzz.CommandLine); it installs them if missing.
# Findings go to fuzz/findings/ (AFL) or fuzz/crashes/ (mutate); both are ignored by git.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
project="$here/Mlx.Formats.Fuzz"
out="$project/bin/Release/net10.0"
harness="$out/Mlx.Formats.Fuzz.dll"

build() {
    dotnet build "$project" -c Release -nologo -v quiet
}

case "${1:-}" in
    mutate)
        build
        cd "$here"
        dotnet "$harness" mutate "$here/corpus" "${2:-60}"
        ;;
    afl)
        format="${2:?format: npy npz safetensors gguf}"
        seconds="${3:-600}"
        command -v afl-fuzz >/dev/null || { apt-get update && apt-get install -y afl++; }
        command -v sharpfuzz >/dev/null || { dotnet tool install --global SharpFuzz.CommandLine; export PATH="$PATH:$HOME/.dotnet/tools"; }
        build
        # Instrument only the library under test, in the build output.
        sharpfuzz "$out/Mlx.Formats.dll"
        mkdir -p "$here/findings/$format"
        AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 timeout "$seconds" \
            afl-fuzz -i "$here/corpus/$format" -o "$here/findings/$format" -t 10000 -m none \
            -- dotnet "$harness" afl "$format" || true
        echo "crashes: $(ls "$here/findings/$format"/default/crashes 2>/dev/null | grep -vc README || true)"
        ;;
    replay)
        shift
        build
        dotnet "$harness" run "$@"
        ;;
    *)
        sed -n '2,11p' "$0"
        exit 2
        ;;
esac

#!/usr/bin/env bash
# The test command: installs what is missing, builds (the libtorch shim included) and runs every test.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install-deps.sh
dotnet test Dsl.sln -c Release --nologo "$@"

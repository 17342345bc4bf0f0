#!/usr/bin/env bash
# MALLOC-LEAN: the shared libraries a library needs (its DT_NEEDED entries)
# must be exactly the ones given.
#   check_needed.sh LIBRARY NEEDED...
set -euo pipefail
lib=$1
shift
want=$(printf '%s\n' "$@" | sort)
have=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort)
if [ "$have" != "$want" ]; then
  echo "MALLOC-LEAN: $lib needs:"
  echo "$have"
  echo "MALLOC-LEAN: expected only: $*"
  exit 1
fi
echo "MALLOC-LEAN: $lib needs only $*"

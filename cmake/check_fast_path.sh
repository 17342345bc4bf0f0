#!/usr/bin/env bash
# FAST-1, FAST-2: reads the machine code of the entry points in a built
# library and fails if a fast path holds a lock prefix (atomic RMW), an
# exchange, a call (through the PLT or not), or a __tls_get_addr call.
# Tail jumps to the noinline slow paths are allowed.
# INLINE-1: with --inline, the functions hold an inline fast path, which
# must moreover read the thread cache through static TLS (%fs), i.e. be
# compiled into the function rather than called.
#   check_fast_path.sh [--inline] LIBRARY_OR_OBJECT [FUNCTION...]
#   (default: the core's entry points)
set -euo pipefail
clause=FAST-1
require_tls=0
if [ "${1:-}" = --inline ]; then
  clause=INLINE-1
  require_tls=1
  shift
fi
lib=$1
shift
functions=("$@")
[ ${#functions[@]} -gt 0 ] ||
  functions=('concalloc::Alloc(unsigned long)' 'concalloc::Free(void*)' concalloc_alloc concalloc_free)
dis=$(objdump -d --no-show-raw-insn -C "$lib")
status=0
for fn in "${functions[@]}"; do
  body=$(awk -v f="<$fn>:" 'index($0, f) == length($0) - length(f) + 1 && index($0, f) {on = 1; next}
                            on && /^$/ {exit} on' <<<"$dis")
  if [ -z "$body" ]; then
    echo "$clause: $fn not found in $lib"
    status=1
    continue
  fi
  n=$(grep -cE '^\s+[0-9a-f]+:\s+[a-z]' <<<"$body" || true)
  bad=$(grep -E '\block\b|\bcall|xchg|xadd|@plt|__tls_get_addr' <<<"$body" | grep -v 'xchg   %ax,%ax' || true)
  if [ -n "$bad" ]; then
    echo "$clause: $fn has a lock, an atomic RMW or a call:"
    echo "$bad"
    status=1
  elif [ $require_tls = 1 ] && ! grep -q '%fs:' <<<"$body"; then
    echo "$clause: $fn reads no thread cache through static TLS: its fast path is not inline"
    status=1
  else
    echo "$clause: $fn: $n instructions, no lock, no atomic RMW, no call, static TLS"
  fi
done
exit $status

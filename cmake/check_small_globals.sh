#!/usr/bin/env bash
# MALLOC-LEAN: the library's small writable globals (under one page each)
# all lie below its large zero-filled arrays (the depot's shards, the no-cache
# sentinel), so that a process that never reaches the depot touches only the
# data pages the loader touches anyway, not pages in the middle of the
# arrays' 77 KiB (CONCALLOC_LARGE_BSS in src/platform/platform.h, and the link's
# --sort-section=name in CMakeLists.txt, whatever the compiler).
#   check_small_globals.sh LIBRARY
set -euo pipefail
lib=$1
# nm prints addresses and sizes as fixed-width hex: compared as strings
# ("x" in front, so awk never takes them for numbers).
nm -S --defined-only "$lib" | awk '
  NF == 4 && $3 ~ /^[bBdD]$/ {
    addr = "x" $1; large_size = ("x" $2 >= "x" sprintf("%0" length($2) "x", 4096))
    if (large_size) { if (first_large == "" || addr < first_large) { first_large = addr; large = $4 } }
    else if (last_small == "" || addr > last_small) { last_small = addr; small = $4 }
  }
  END {
    if (first_large == "") { print "MALLOC-LEAN: no large array found"; exit 1 }
    if (last_small > first_large) {
      print "MALLOC-LEAN: the small global " small " (" substr(last_small, 2) ") lies above the large array " large " (" substr(first_large, 2) ")"
      exit 1
    }
    print "MALLOC-LEAN: every small global lies below " substr(first_large, 2) ", where the large arrays start (" large ")"
  }'

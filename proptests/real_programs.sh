#!/usr/bin/env bash
# MALLOC-REAL: real programs that no one here wrote, from Debian's packages,
# run without and with libconcalloc-malloc preloaded: output and exit status
# must be the same. Then the project's own unit tests, preloaded.
#   real_programs.sh LIBCONCALLOC_MALLOC UNIT_TESTS
set -uo pipefail
lib=$(realpath "$1")
unit_tests=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

# compare NAME COMMAND...: runs COMMAND twice, in the same fresh folder.
compare() {
  local name=$1 a b ra rb
  shift
  rm -rf "$work/run" && mkdir -p "$work/run"
  a=$(cd "$work/run" && "$@" 2>&1); ra=$?
  rm -rf "$work/run" && mkdir -p "$work/run"
  b=$(cd "$work/run" && LD_PRELOAD=$lib "$@" 2>&1); rb=$?
  if [ "$ra" = 0 ] && [ "$ra" = "$rb" ] && [ "$a" = "$b" ]; then
    echo "ok   $name (same output, $(printf '%s' "$a" | wc -l) lines)"
  else
    echo "FAIL $name: exit $ra without, $rb with the library"
    diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | head -20
    status=1
  fi
}

# Debian's python3 (not a version manager's shim, which is a shell script).
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)

# The library must really be in the preloaded processes (MALLOC-STATS).
probe=$(LD_PRELOAD=$lib CONCALLOC_SHOW_STATS=1 "$py" -c pass 2>&1)
if [[ $probe == "concalloc: main thread"* ]]; then
  echo "ok   preloaded: python3 reports concalloc's stats at exit"
else
  echo "FAIL the library is not in the preloaded process"; status=1
fi

cat > "$work/threads.py" <<'PY'
import hashlib, json, re, threading
out = []
def work(i):
    data = [{"k": j, "s": "x" * (j % 50), "l": list(range(j % 20))} for j in range(3000 + i)]
    text = json.dumps(data)
    back = json.loads(text)
    words = re.findall(r'"s": "(x*)"', text)
    out.append((i, len(back), sum(map(len, words)), hashlib.sha256(text.encode()).hexdigest()))
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
for row in sorted(out): print(*row)
PY
compare "python3: threads, json, re" "$py" "$work/threads.py"

compare "git: init, add, commit, log" bash -c '
  export GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@example.invalid GIT_COMMITTER_NAME=a
  export GIT_COMMITTER_EMAIL=a@example.invalid GIT_AUTHOR_DATE="2026-01-01T00:00:00Z"
  export GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" GIT_CONFIG_NOSYSTEM=1 HOME=$PWD
  git init -q -b main repo && cd repo &&
  for i in $(seq 1 50); do seq 1 $((i * 100)) > f$i.txt; done &&
  git add . && git commit -q -m first && sed -i s/1/one/ f7.txt && git commit -qam second &&
  git log --format="%H %an %s" && git log --stat | tail -3'

awk 'BEGIN { s = 42; for (i = 0; i < 300000; ++i) { s = (s * 1103515245 + 12345) % 2147483648;
  printf "%d key%d %s\n", s % 100000, i, substr("abcdefghijklmnop", s % 16 + 1) } }' > "$work/big.txt"
compare "sort: 300000 lines, two orders" bash -c "sort $work/big.txt | md5sum; sort -k1,1n -k3 $work/big.txt | md5sum"

mkdir -p "$work/proj"
cat > "$work/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(small LANGUAGES C)
file(WRITE ${CMAKE_BINARY_DIR}/gen.c "int main(void) { return 0; }\n")
add_executable(small ${CMAKE_BINARY_DIR}/gen.c)
message(STATUS "configured small")
CM
compare "cmake: configure a small project" bash -c "cmake -S $work/proj -B build -G Ninja | grep -v 'Build files have been written'"

if LD_PRELOAD=$lib RC_PARAMS=max_success=50 "$unit_tests" --gtest_brief=1 >"$work/unit.log" 2>&1; then
  echo "ok   the project's own unit tests, preloaded"
else
  echo "FAIL the project's own unit tests, preloaded"; tail -20 "$work/unit.log"; status=1
fi
exit $status

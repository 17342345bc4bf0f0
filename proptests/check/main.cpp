// concalloc-check: checks an allocator against the contract from outside
// (spec/SPEC.md section 15, CHECK-*).
//   concalloc-check malloc [OPTIONS]       the process's malloc family, so
//                                          LD_PRELOAD=libfoo.so concalloc-check malloc
//                                          checks any malloc replacement
//   concalloc-check concrt LIB [OPTIONS]   the Alloc/Free pair LIB exports
//                                          through <concalloc/check.h>'s table
#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <concalloc/check.h>

#include "contract.h"

namespace {

constexpr const char* kUsage = R"(usage: concalloc-check malloc [OPTIONS]
       concalloc-check concrt LIB [OPTIONS]

Checks an allocator against the contract, with generated sequences of
calls (RapidCheck), and prints each failure as the rule it breaks and the
shrunk sequence of calls that shows it.

  malloc        the process's malloc, free, calloc, realloc, reallocarray,
                aligned_alloc, posix_memalign, memalign, malloc_usable_size:
                run it as  LD_PRELOAD=/path/to/libfoo.so concalloc-check malloc
                (a function the preloaded library does not provide itself is
                left out, with a note: libc's would mix two heaps)
  concrt LIB    the table `concalloc_check_table` that the shared object LIB
                exports (<concalloc/check.h>: alloc, free, and optionally
                usable_size, alloc_aligned, flush)

What it checks (rules: the C standard's 7.22.3, POSIX, or concalloc's
spec IDs for concrt):
  sequences     alignment, no overlap between live blocks (usable sizes
                included), contents kept until free and across realloc,
                calloc zeroed, usable size at least the request, free
                keeps errno
  churn         long runs (up to 20,000 calls, 2,000 blocks live) of malloc
                and free: each new block checked at once against every live
                one, contents checked at free (bugs that fire once in
                hundreds of calls)
  limits        impossible sizes give NULL with ENOMEM (EINVAL for a bad
                posix_memalign alignment), calloc and reallocarray
                overflows, a failed realloc keeps its block
  threads       blocks handed between threads with their contents, freed on
                other threads and after their thread exited, fork() while
                other threads allocate
  reuse         blocks freed on another thread come back (the resident set
                stays bounded while 256 MiB move through 4 MiB)
What it does not check: speed, fragmentation, behaviour after a misuse
(double free, foreign pointers), or any conservation count the allocator
does not expose.

Options:
  --seed N      RapidCheck's seed (repeatable runs)
  --cases N     generated cases per property (default 100)
  --only LIST   some of: sequences,churn,limits,threads,reuse (default all)
  --keep-going  run every property even after one failed (a bad allocator
                may then crash the checker: glibc's own threads need calloc)
  --shrink-seconds N  how long a property may shrink after its first
                failure (default 30): a failure that does not come back on
                every rerun could keep it shrinking for minutes
  --no-fork     leave fork() out of the threads property
  --skip LIST   leave out these functions (e.g. aligned_alloc,memalign)
  --no-errno    leave out POSIX's errno rules (ENOMEM on failure, free keeps
                errno), which C does not make
  --help        this text
Exit status: 0 when every property passed, 1 when one failed, 2 on bad
usage or a table that cannot be loaded. Build it with -fsanitize=thread or
address (the project's tsan and asan presets) to see races and memory errors
in an allocator's hand-offs too.
)";

bool SameObject(void* a, void* b) {
  Dl_info ia{}, ib{};
  if (dladdr(a, &ia) == 0 || dladdr(b, &ib) == 0) return false;
  return ia.dli_fbase == ib.dli_fbase;
}

// The process's malloc family, each function where the object that provides
// malloc provides it too.
template <typename F>
F Provided(const char* name, void* malloc_fn, F fallback) {
  void* f = dlsym(RTLD_DEFAULT, name);
  if (f == nullptr) {
    std::printf("note: %s: not in this process; its checks are left out\n", name);
    return nullptr;
  }
  if (!SameObject(f, malloc_fn)) {
    Dl_info info{};
    dladdr(f, &info);
    std::printf("note: %s comes from %s, not from the object that provides malloc; its checks "
                "are left out\n",
                name, info.dli_fname != nullptr ? info.dli_fname : "?");
    return nullptr;
  }
  return fallback;
}

void FreeOne(void* p) { std::free(p); }
std::size_t UsableOf(void* p) { return malloc_usable_size(p); }

concalloc_check::Api MallocApi() {
  concalloc_check::Api api;
  api.name = "malloc";
  api.is_malloc = true;
  void* m = dlsym(RTLD_DEFAULT, "malloc");
  api.alloc = &std::malloc;
  api.release = &FreeOne;
  api.calloc = Provided("calloc", m, &std::calloc);
  api.realloc = Provided("realloc", m, &std::realloc);
  api.reallocarray = Provided("reallocarray", m, &reallocarray);
  api.aligned_alloc = Provided("aligned_alloc", m, &aligned_alloc);
  api.posix_memalign = Provided("posix_memalign", m, &posix_memalign);
  api.memalign = Provided("memalign", m, &memalign);
  api.usable_size = Provided("malloc_usable_size", m, &UsableOf);
  if (!SameObject(dlsym(RTLD_DEFAULT, "free"), m)) {
    std::printf("error: free and malloc come from different objects\n");
    std::exit(2);
  }
  Dl_info info{};
  if (dladdr(m, &info) != 0 && info.dli_fname != nullptr)
    std::printf("checking the malloc of %s\n", info.dli_fname);
  return api;
}

const concalloc_check_table* g_table = nullptr;
void* TableAlloc(std::size_t n) { return g_table->alloc(n); }
void TableFree(void* p) { g_table->free(p); }
std::size_t TableUsable(void* p) { return g_table->usable_size(p); }
void* TableAligned(std::size_t n, std::size_t a) { return g_table->alloc_aligned(n, a); }
void TableFlush() { g_table->flush(); }

concalloc_check::Api ConcrtApi(const char* lib) {
  void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    std::printf("error: cannot load %s: %s\n", lib, dlerror());
    std::exit(2);
  }
  g_table = static_cast<const concalloc_check_table*>(dlsym(h, "concalloc_check_table"));
  if (g_table == nullptr || g_table->version != CONCALLOC_CHECK_TABLE_VERSION ||
      g_table->alloc == nullptr || g_table->free == nullptr) {
    std::printf("error: %s exports no concalloc_check_table of version %u with alloc and free\n",
                lib, CONCALLOC_CHECK_TABLE_VERSION);
    std::exit(2);
  }
  concalloc_check::Api api;
  api.name = std::string("concrt ") + lib;
  api.alloc = &TableAlloc;
  api.release = &TableFree;
  if (g_table->usable_size != nullptr) api.usable_size = &TableUsable;
  else std::printf("note: no usable_size in the table; its checks are left out\n");
  if (g_table->alloc_aligned != nullptr) api.alloc_aligned = &TableAligned;
  else std::printf("note: no alloc_aligned in the table; its checks are left out\n");
  if (g_table->flush != nullptr) api.flush = &TableFlush;
  return api;
}

bool Has(const std::string& list, const char* name) {
  return list == "all" || ("," + list + ",").find(std::string(",") + name + ",") != std::string::npos;
}

}  // namespace

// CHECK-REPORT: every failure names its rule and ends the run with status
// 1 (the first failing property, unless --keep-going); bad usage or a table
// that cannot be loaded, status 2.
int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string mode = argv[1];
  int i = 2;
  const char* lib = nullptr;
  if (mode == "concrt") {
    if (argc < 3) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    lib = argv[i++];
  } else if (mode != "malloc") {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string seed, cases = "100", only = "all", skip;
  bool fork_on = true, errno_rules = true, keep_going = false;
  int shrink_seconds = 30;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seed" && i + 1 < argc) seed = argv[++i];
    else if (a == "--cases" && i + 1 < argc) cases = argv[++i];
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--no-fork") fork_on = false;
    else if (a == "--shrink-seconds" && i + 1 < argc) shrink_seconds = std::atoi(argv[++i]);
    else if (a == "--skip" && i + 1 < argc) skip = argv[++i];
    else if (a == "--no-errno") errno_rules = false;
    else if (a == "--keep-going") keep_going = true;
    else if (a == "--help") { std::fputs(kUsage, stdout); return 0; }
    else {
      std::fprintf(stderr, "concalloc-check: unknown option %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  // RapidCheck reads its configuration from RC_PARAMS at its first use.
  std::string params = "max_success=" + cases;
  if (!seed.empty()) params += " seed=" + seed;
  if (const char* extra = std::getenv("RC_PARAMS")) params = std::string(extra) + " " + params;
  setenv("RC_PARAMS", params.c_str(), 1);
  // Under the sanitizers: their allocators are not fork-safe with threads
  // inside (no fork), and ASan's quarantine holds freed memory back by
  // design (no CHECK-REUSE).
  bool asan = false, tsan = false;
#if defined(__SANITIZE_ADDRESS__)
  asan = true;
#endif
#if defined(__SANITIZE_THREAD__)
  tsan = true;
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
  asan = true;
#endif
#if __has_feature(thread_sanitizer)
  tsan = true;
#endif
#endif
  if (asan || tsan) fork_on = false;
  if (asan && Has(only, "reuse")) {
    std::printf("note: built with ASan, whose quarantine keeps freed memory: the reuse "
                "property is left out\n");
    only = only == "all" ? "sequences,churn,limits,threads" : only;
  }
  concalloc_check::SetForkEnabled(fork_on);
  concalloc_check::SetShrinkSeconds(shrink_seconds);
  concalloc_check::Api api = lib != nullptr ? ConcrtApi(lib) : MallocApi();
  api.errno_rules = errno_rules;
  if (!errno_rules) std::printf("note: POSIX's errno rules are left out (--no-errno)\n");
  for (const char* f : {"calloc", "realloc", "reallocarray", "aligned_alloc", "posix_memalign",
                        "memalign", "malloc_usable_size", "usable_size", "alloc_aligned",
                        "flush"}) {
    if (skip.empty() || !Has(skip, f)) continue;
    std::printf("note: %s is left out (--skip)\n", f);
    const std::string n = f;
    if (n == "calloc") api.calloc = nullptr;
    if (n == "realloc") api.realloc = nullptr;
    if (n == "reallocarray") api.reallocarray = nullptr;
    if (n == "aligned_alloc") api.aligned_alloc = nullptr;
    if (n == "posix_memalign") api.posix_memalign = nullptr;
    if (n == "memalign") api.memalign = nullptr;
    if (n == "malloc_usable_size" || n == "usable_size") api.usable_size = nullptr;
    if (n == "alloc_aligned") api.alloc_aligned = nullptr;
    if (n == "flush") api.flush = nullptr;
  }
  std::fflush(stdout);
  bool ok = true;
  // In this order; the first property that fails ends the run (unless
  // --keep-going).
  const struct {
    const char* name;
    bool (*run)(const concalloc_check::Api&);
  } properties[] = {{"sequences", &concalloc_check::CheckSequences},
                    {"churn", &concalloc_check::CheckChurn},
                    {"limits", &concalloc_check::CheckLimits},
                    {"threads", &concalloc_check::CheckThreads},
                    {"reuse", &concalloc_check::CheckReuse}};
  for (const auto& p : properties) {
    if (!Has(only, p.name) || (!ok && !keep_going)) continue;
    ok = p.run(api) && ok;
    std::fflush(stdout);
  }
  std::printf("concalloc-check: %s: %s\n", api.name.c_str(),
              ok ? "every property passed" : "FAILED (the rules above)");
  return ok ? 0 : 1;
}

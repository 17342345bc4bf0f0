// LIFE-4, MALLOC-FORK: fork handlers that allocate. A program registers its
// pthread_atfork handlers before the allocator's (a constructor of priority
// 101 runs before every default one, and before the first allocation), so
// that the allocator's handlers nest inside the user's; each of the user's
// prepare, parent and child handlers then allocates and frees blocks of many
// classes (misses: the depot), while other threads use the depot too.
//   fork_handlers api      concalloc::Alloc/Free (the library is linked)
//   fork_handlers malloc   malloc/free (run with libconcalloc-malloc preloaded)
// Exits 0 when every fork returns in the parent and the child; a handler
// that hangs is reported by the alarm after 10 s.
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include <concalloc/concalloc.h>

namespace {

bool g_api = true;
std::atomic<int> g_ran{0};

void* Get(std::size_t n) { return g_api ? concalloc::Alloc(n) : std::malloc(n); }
void Put(void* p) { g_api ? concalloc::Free(p) : std::free(p); }

// Blocks of 40 classes, each class touched anew (misses, refills), and 200
// blocks of one class (its list spills to the depot).
void Churn() {
  void* blocks[200];
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 200; ++i) blocks[i] = Get(static_cast<std::size_t>(16 * (i % 40) + 1));
    for (int i = 0; i < 200; ++i) Put(blocks[i]);
    for (int i = 0; i < 200; ++i) blocks[i] = Get(48);
    for (int i = 0; i < 200; ++i) Put(blocks[i]);
  }
}

void Prepare() { Churn(); g_ran |= 1; }
void Parent() { Churn(); g_ran |= 2; }
void Child() { Churn(); g_ran |= 4; }

void OnAlarm(int) {
  const char msg[] = "LIFE-4: a fork handler that allocates hung (deadlock)\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(3);
}

__attribute__((constructor(101))) void RegisterFirst() {
  signal(SIGALRM, OnAlarm);
  alarm(10);
  pthread_atfork(&Prepare, &Parent, &Child);
}

}  // namespace

int main(int argc, char** argv) {
  g_api = !(argc == 2 && std::strcmp(argv[1], "malloc") == 0);
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int t = 0; t < 2; ++t)
    busy.emplace_back([&] {
      while (!stop.load()) Churn();
    });
  int failures = 0;
  for (int round = 0; round < 20; ++round) {
    g_ran = 0;
    const pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
      alarm(10);
      Churn();
      _exit((g_ran.load() & 5) == 5 ? 0 : 4);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || (g_ran.load() & 3) != 3) {
      std::fprintf(stderr, "LIFE-4: fork round %d: child status %d, handlers ran %d\n", round,
                   status, g_ran.load());
      ++failures;
    }
  }
  stop = true;
  for (std::thread& t : busy) t.join();
  std::printf("fork_handlers: 20 forks, handlers allocating on both sides: %s\n",
              failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}

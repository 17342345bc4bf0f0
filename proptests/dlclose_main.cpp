// LIFE-5: dlopen/dlclose of a plugin linked to libconcalloc.so, 1100 times
// (more than the 1024 pthread keys of a process), each time used from a new
// thread; then a thread that used the plugin exits after its dlclose. The
// library must stay loaded (it is never unloaded, so its thread-exit key and
// destructor stay valid) and keep one key for the whole process.
//   dlclose_check PLUGIN LIBRARY_SONAME
#include <dlfcn.h>
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

namespace {

using Work = void (*)();

Work Load(const char* plugin, void** handle) {
  *handle = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
  if (*handle == nullptr) return nullptr;
  return reinterpret_cast<Work>(dlsym(*handle, "plugin_work"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const char* plugin = argv[1];
  const char* soname = argv[2];
  constexpr int kCycles = 1100;
  for (int i = 0; i < kCycles; ++i) {
    void* handle;
    Work work = Load(plugin, &handle);
    if (work == nullptr) {
      std::printf("LIFE-5: dlopen of the plugin failed: %s\n", dlerror());
      return 1;
    }
    std::thread(work).join();
    dlclose(handle);
  }
  pthread_key_t key;
  const int rc = pthread_key_create(&key, nullptr);
  if (rc != 0) {
    std::printf("LIFE-5: after %d dlopen/dlclose cycles no pthread key is left (%s)\n", kCycles,
                std::strerror(rc));
    return 1;
  }
  pthread_key_delete(key);

  // A thread that used the plugin exits after the plugin's dlclose: its
  // cache's exit destructor must still be there.
  void* handle;
  Work work = Load(plugin, &handle);
  std::atomic<int> step{0};
  std::thread user([&] {
    work();
    step = 1;
    while (step.load() != 2) {
    }
  });
  while (step.load() != 1) {
  }
  dlclose(handle);
  void* still = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
  step = 2;
  user.join();
  if (still == nullptr) {
    std::printf("LIFE-5: %s was unloaded by dlclose\n", soname);
    return 1;
  }
  dlclose(still);
  std::printf("LIFE-5: %d dlopen/dlclose cycles, one key; %s stays loaded\n", kCycles, soname);
  return 0;
}

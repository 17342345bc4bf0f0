// LIFE-5: a plugin that uses concalloc (linked to libconcalloc.so), loaded
// and unloaded by dlclose_main.cpp.
#include <concalloc/concalloc.h>

extern "C" __attribute__((visibility("default"))) void plugin_work() {
  for (int i = 0; i < 10; ++i) concalloc::Free(concalloc::Alloc(static_cast<unsigned>(i) * 100));
}

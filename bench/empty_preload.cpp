// The floor of the fixed cost (bench/scaling-run): a shared library with
// nothing in it. Preloading it costs a process what preloading any library
// costs (the loader maps and relocates it), which no allocator can go below.
extern "C" int concalloc_bench_empty_preload() { return 0; }

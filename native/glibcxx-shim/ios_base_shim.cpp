// A stand-in for std::ios_base_library_init(), the one GLIBCXX_3.4.32 symbol libLibTorchSharp.so
// (TorchSharp-cpu 0.107, built with GCC 13) asks of libstdc++. GCC 13 emits a reference to it as a marker that
// the standard streams must be initialised; libtorch initialises them itself, and Debian 12's libstdc++
// (GLIBCXX up to 3.4.30) initialises them in its own constructors, so doing nothing is correct.
namespace std {
__attribute__((visibility("default"))) void ios_base_library_init() {}
}  // namespace std

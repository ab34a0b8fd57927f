#ifndef ZEDGE_FUZZ_DRIVER_H
#define ZEDGE_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, linked by -sanitize=fuzzer): runs the fuzzing loop with `callback` as the
/// target, taking libFuzzer's usual command line. The fuzz targets' `main` calls it, because SwiftPM links an
/// executable with `main` aliased to `<module>_main` rather than letting libFuzzer's own `main` in.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif

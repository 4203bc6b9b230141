#ifndef CFUZZERDRIVER_H
#define CFUZZERDRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for programs that have their own `main` (in libclang_rt.fuzzer, LLVM 11+): parses the
/// libFuzzer flags in argv and fuzzes `callback`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/// Runs libFuzzer's driver over the target's `LLVMFuzzerTestOneInput` (each target defines it with `@_cdecl`);
/// every target's `<Target>_main` calls this.
int mcpfcgi_fuzz_main(int argc, char **argv);

#endif

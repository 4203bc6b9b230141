// libclang_rt.fuzzer, linked by -sanitize=fuzzer, defines LLVMFuzzerRunDriver; the target defines
// LLVMFuzzerTestOneInput.
#include "CFuzzerDriver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int test_one_input(const uint8_t *data, size_t size) {
    static const uint8_t empty[1] = {0};
    // The Swift targets take a non-optional pointer: never hand them NULL, even for an empty input.
    return LLVMFuzzerTestOneInput(data ? data : empty, size);
}

int mcpfcgi_fuzz_main(int argc, char **argv) {
    return LLVMFuzzerRunDriver(&argc, &argv, test_one_input);
}

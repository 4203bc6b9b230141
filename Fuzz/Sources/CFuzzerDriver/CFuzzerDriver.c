// Declarations only (see include/CFuzzerDriver.h); libclang_rt.fuzzer, linked by -sanitize=fuzzer, defines them.
#include "CFuzzerDriver.h"

import CFuzzerDriver

/// The executable's entry point (see Package.swift): libFuzzer's driver over `LLVMFuzzerTestOneInput`.
@_cdecl("FuzzCGI_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        guard let data else { return 0 }  // libFuzzer passes a buffer even for empty input
        return fuzz(data, size)
    }
}

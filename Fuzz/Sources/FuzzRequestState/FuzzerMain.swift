import CFuzzerDriver

/// The executable's entry point (see Package.swift): libFuzzer's driver over `LLVMFuzzerTestOneInput`.
@_cdecl("FuzzRequestState_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    mcpfcgi_fuzz_main(argc, argv)
}

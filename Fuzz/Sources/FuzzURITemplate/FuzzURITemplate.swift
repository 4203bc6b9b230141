// Fuzz target: `URITemplate` (resource templates): parsing a template and matching a client's URI against it.
//
// Input: `<template>\n<uri>` (split at the first newline; no newline: the whole input is the template and the
// URI is empty). Checked properties:
// - parsing and matching never crash;
// - every captured name is one of the template's variables;
// - expanding the template with non-empty values for every variable gives a URI that matches it.
//
// Known issue, bounded here so that a short run is meaningful: matching backtracks, trying every end of each
// variable's value, so it costs about n^(k+1) for a URI segment of n bytes matched by k expressions (each try
// also percent-decodes its candidate). Unless FUZZ_URITEMPLATE_UNBOUNDED is set, templates with more than one
// expression in a segment (between `/`, `?`, `#`) are skipped, and scripts/fuzz.sh caps the input at 512 bytes.
// Reproducers of the blowup: Fuzz/known-issues/.
import MCPHandlers

#if canImport(Glibc)
    import Glibc
#endif

private let unbounded = getenv("FUZZ_URITEMPLATE_UNBOUNDED") != nil

/// The most expressions in one segment of the template (`{…}` counted whether or not it is a valid expression).
private func expressionsPerSegment(_ template: UnsafeBufferPointer<UInt8>) -> Int {
    var most = 0
    var current = 0
    var i = 0
    while i < template.count {
        switch template[i] {
        case UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: "#"):
            current = 0
        case UInt8(ascii: "{"):
            current += 1
            most = max(most, current)
            if let close = template[i...].firstIndex(of: UInt8(ascii: "}")) { i = close }
        default:
            break
        }
        i += 1
    }
    return most
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let newline = bytes.firstIndex(of: 0x0A) ?? size
    let templateBytes = UnsafeBufferPointer(rebasing: bytes[..<newline])
    if !unbounded, expressionsPerSegment(templateBytes) > 1 { return 0 }
    let template = URITemplate(String(decoding: templateBytes, as: UTF8.self))
    let uri = String(decoding: UnsafeBufferPointer(rebasing: bytes[min(newline + 1, size)...]), as: UTF8.self)
    let names = Set(template.variableNames)
    if let captures = template.match(uri) {
        for name in captures.keys { precondition(names.contains(name), "captured \(name), not a variable") }
    }
    // Values derived from the URI, so that the fuzzer controls them too.
    let pieces = uri.split(separator: "/").map(String.init).filter { !$0.isEmpty }
    var values: [String: String] = [:]
    for (i, name) in template.variableNames.enumerated() {
        values[name] = pieces.isEmpty ? "v\(i)" : pieces[i % pieces.count]
    }
    let expanded = template.expand(values)
    precondition(template.match(expanded) != nil, "expansion \(expanded) does not match its template")
    return 0
}

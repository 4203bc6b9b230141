// Fuzz target: `URITemplate` (resource templates): parsing a template and matching a client's URI against it.
//
// Input: `<template>\n<uri>` (split at the first newline; no newline: the whole input is the template and the
// URI is empty). Checked properties:
// - parsing and matching never crash;
// - every captured name is one of the template's variables;
// - expanding the template with non-empty values for every variable gives a URI that matches it.
//
// Any template is fuzzed, with any number of expressions per segment, at the script's full input length: matching
// is linear in the URI (issue #14; it used to backtrack, about n^(k+1) for k expressions in a segment of n bytes),
// so a slow input counts as a finding (-timeout). The former reproducers are tests in
// Tests/MCPHandlersTests/FuzzRegressionTests.swift.
import MCPHandlers

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let newline = bytes.firstIndex(of: 0x0A) ?? size
    let templateBytes = UnsafeBufferPointer(rebasing: bytes[..<newline])
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

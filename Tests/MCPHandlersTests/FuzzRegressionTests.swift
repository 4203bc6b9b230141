import Foundation
import Testing

@testable import MCPHandlers

/// Inputs found by the fuzz targets in Fuzz/ (see Fuzz/README.md) that exercise MCPHandlers, kept as tests once
/// fixed.
@Suite struct FuzzRegressionTests {
    /// FuzzURITemplate (timeouts, Fuzz/known-issues until issue #14): matching backtracked, trying every end of
    /// each variable's value, about n^(k+1) for a segment of n bytes matched by k expressions (88 s, 35 s and 27 s
    /// in the fuzz build for the first three). Each input is `<template>\n<uri>`; the check is the target's: the
    /// match finishes in a number of automaton steps linear in the URI, captures only template variables, and an
    /// expansion of the template matches it.
    @Test(arguments: [
        Reproducer("uri-template-adjacent-expressions", "x://{a}{b}{c}!\nx://" + String(repeating: "a", count: 150)),
        Reproducer(
            "uri-template-separated-expressions", "x://{a}-{b}-{c}-{d}!\nx://" + String(repeating: "-", count: 60)),
        Reproducer("uri-template-long-segment", "x://{a}!\nx://" + String(repeating: "a", count: 4000)),
        Reproducer("adjacent expressions, 20 KB", "x://{a}{b}{c}!\nx://" + String(repeating: "a", count: 20_000)),
        Reproducer(
            "separated expressions, 20 KB", "x://{a}-{b}-{c}-{d}!\nx://" + String(repeating: "-", count: 20_000)),
        // Many `{a,b}` in one segment, minimized from 1.8 KB.
        Reproducer(
            "uri-template-found-by-fuzzer", String(decoding: Data(base64Encoded: Self.foundByFuzzer)!, as: UTF8.self)),
    ])
    func uriTemplateMatchingIsLinear(_ reproducer: Reproducer) {
        let input = reproducer.input
        let bytes = Array(input.utf8)
        let newline = bytes.firstIndex(of: 0x0A) ?? bytes.count
        let template = URITemplate(String(decoding: bytes[..<newline], as: UTF8.self))
        let uri = String(decoding: bytes[min(newline + 1, bytes.count)...], as: UTF8.self)
        let bound = 2 * (uri.utf8.count + 1) * template.automaton.states.count
        var steps = 0
        if let captures = template.match(uri, steps: &steps) {
            #expect(Set(captures.keys).isSubset(of: template.variableNames))
        }
        #expect(steps <= bound)
        // The target's second property, with its values: the URI's non-empty `/` pieces, in turn.
        let pieces = uri.split(separator: "/").map(String.init)
        var values: [String: String] = [:]
        for (i, name) in template.variableNames.enumerated() {
            values[name] = pieces.isEmpty ? "v\(i)" : pieces[i % pieces.count]
        }
        let expanded = template.expand(values)
        steps = 0
        #expect(template.match(expanded, steps: &steps) != nil, "expansion \(expanded) does not match")
        #expect(steps <= 2 * (expanded.utf8.count + 1) * template.automaton.states.count)
    }

    /// A fuzzer input, shown by name in the test report.
    struct Reproducer: Sendable, CustomTestStringConvertible {
        let name: String
        let input: String
        init(_ name: String, _ input: String) {
            self.name = name
            self.input = input
        }
        var testDescription: String { name }
    }

    /// Fuzz/known-issues/uri-template-found-by-fuzzer (1551 bytes, with NUL and invalid UTF-8 bytes), in Base64.
    static let foundByFuzzer =
        "ZGIlenp7c2NoZW1hLHRkPHp6enp6enp6enp7YSxifn16enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6"
        + "enp6enp6enp6enp6enp6enp6enp6enp6enpiJXp6e3NjaGVtYSx0ZDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8"
        + "PDwAADw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6YiV6entzY2hl"
        + "bWEsdGQ8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDx6"
        + "enp6enp6enp6enp6enp6enp6enp6enpiJXp6e3NjaGVtYSx0ZDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8"
        + "PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8AQA8PDw8PDw8PDw8PDw8PDw8PHp6enp6enp6enp6enp6enp6enp6enp6enp6enp7"
        + "YSxiU3RyaW5nenp6enp6enp6enp6enp6enp6enp6e2EsYn16enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6"
        + "enp6enp6enp6enp6enp6enp6enp6enp6enp6enthLGJ9enp6enp6enp6enp6enp6enp6enp6eno8PDw8PDw8enp6enp6enp6enp6enp6enp6"
        + "enp6enp6YiV6entzY2hlbWEsdGQ8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8"
        + "PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDx6enp6enp6enp6enp6enp6enp6enp6enp6enp6e2EsYn16enp6enp6enp6enp6"
        + "enp6enp6enp6enp6enthLGJ9enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6"
        + "enp6enp6enp6enp7YSxifXp6enp6enp6enp6enp6enp6enp6enp6enp6e2EsYn16enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6"
        + "enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6"
        + "enp6enp6enpiJXp6e3p6enp6YiV6entzY2hlbWEsdGQ8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8"
        + "PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDx6enp6enp6enp6enp6enp6enp6enp6enp6enp6e2EsYn16enp6enp6enp6"
        + "enp6enp6enp6enp6enp6enthLGJ9enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6"
        + "enp6enp6enp6enp6enp7YSxifXp6enp6enp6enp6enp6enp6enp6enp6PDw8PDw8PHp6enp6enp6enp6enp6enp6enp6enp6emIlenp7c2No"
        + "ZW1hLHRkPDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8enp6PDw8PDw8"
        + "PDw8PG1h/////////60sdGFibGV9L3J6enp6enp6enp6enp6enp6PDw8PDw8PDw8PG1h/////////63UhWFsZX0vcm93cwpkYjovL3B1Ymxp"
        + "Yyx1c2Vycy9yb3dz"
}

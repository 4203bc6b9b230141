import Foundation
import Testing

@testable import MCPHandlers

@Suite struct URITemplateTests {
    @Test(arguments: [
        ("test://template/{id}/data", "test://template/123/data", ["id": "123"]),
        ("file:///{path}", "file:///readme.md", ["path": "readme.md"]),
        ("db://{schema}/{table}", "db://public/users", ["schema": "public", "table": "users"]),
        ("x://{a,b}/end", "x://1,2/end", ["a": "1", "b": "2"]),
        ("x://{a,b}/end", "x://1/end", ["a": "1"]),
        ("x://{q}", "x://caf%C3%A9", ["q": "café"]),
        ("x://{q}", "x://100%", ["q": "100%"]),
        ("x://{id}.json", "x://a.b.json", ["id": "a.b"]),
        ("plain://no-vars", "plain://no-vars", [:]),
        // Several expressions in one segment: the earlier expression takes the longest value that still matches.
        ("file:///{name}.{ext}", "file:///archive.tar.gz", ["name": "archive.tar", "ext": "gz"]),
        ("x://{a}-{b}-{c}", "x://1-2-3-4-5", ["a": "1-2-3", "b": "4", "c": "5"]),
        ("x://{a}{b}{c}", "x://abcd", ["a": "ab", "b": "c", "c": "d"]),
        ("x://{a,b}{c}", "x://1,2,3", ["a": "1", "b": "2", "c": "3"]),
        ("x://{a,b}/end", "x://,1,,/end", ["a": "1"]),
        ("x://{a}.{a}", "x://1.2", ["a": "2"]),
    ] as [(String, String, [String: String])])
    func matches(_ template: String, _ uri: String, _ expected: [String: String]) {
        #expect(URITemplate(template).match(uri) == expected)
    }

    @Test(arguments: [
        ("test://template/{id}/data", "test://template//data"),
        ("test://template/{id}/data", "test://template/1/2/data"),
        ("test://template/{id}/data", "test://template/1/data/"),
        ("test://template/{id}/data", "other://template/1/data"),
        ("file:///{path}", "file:///a/b"),
        ("x://{q}", "x://a?b"),
        ("x://{a,b}/end", "x://1,2,3/end"),
        ("plain://no-vars", "plain://no-vars-2"),
        ("x://{a,b}/end", "x://,,/end"),
        ("file:///{name}.{ext}", "file:///noext"),
        ("x://{a}-{b}-{c}", "x://1-2"),
        ("x://{a}{b}{c}", "x://ab"),
    ])
    func rejects(_ template: String, _ uri: String) {
        #expect(URITemplate(template).match(uri) == nil)
    }

    @Test func unsupportedExpressionsAreLiteral() {
        let reserved = URITemplate("x://{+path}")
        #expect(reserved.variableNames.isEmpty)
        #expect(reserved.match("x://{+path}") == [:])
        #expect(reserved.match("x://a/b") == nil)
        #expect(URITemplate("x://{unclosed").match("x://{unclosed") == [:])
    }

    @Test func variableNamesAndExpansion() {
        let template = URITemplate("db://{schema}/{table}?{a,b}")
        #expect(template.variableNames == ["schema", "table", "a", "b"])
        #expect(template.expand(["schema": "my schema", "table": "t/1", "a": "x"]) == "db://my%20schema/t%2F1?x")
        let roundTrip = URITemplate("test://template/{id}/data")
        #expect(roundTrip.match(roundTrip.expand(["id": "é/?#"])) == ["id": "é/?#"])
    }

    /// The automaton finds the same captures as the backtracking matcher it replaced (kept below as
    /// ``backtrackingMatch(_:_:)``), on every URI of up to 5 characters from an alphabet that exercises literals,
    /// delimiters, commas and percent-escapes, for templates with up to three expressions in a segment.
    @Test(arguments: [
        "x:{a}", "x:{a}{b}", "x:{a}-{b}", "x:{a}-{b}-{c}", "x:{a}{b}{c}", "x:{a,b}", "x:{a,b}{c}", "x:{a}{b,c}",
        "x:{a,b,c}-{d}", "x:{a}/{b}", "x:{a}a{b}", "x:a{a}a", "x:{a}.{a}", "x:{a},{b}", "x:{a}%{b}", "x:",
    ])
    func agreesWithBacktrackingMatcher(_ text: String) async {
        // About 2,800 URIs through the exponential reference matcher: CPU-bound work in a debug build, run on a
        // thread of its own so that it never holds the test process's few cooperative threads (the timing tests
        // running beside it would wait for them).
        let (checked, disagreements) = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: Self.compareWithBacktracking(text)) }.start()
        }
        #expect(disagreements.isEmpty, "\(text) disagrees on \(disagreements.prefix(5))")
        #expect(checked > 2_000)
    }

    /// How many URIs were compared, and those on which the automaton and the backtracking matcher disagree.
    private static func compareWithBacktracking(_ text: String) -> (Int, [String]) {
        let template = URITemplate(text)
        let alphabet = ["a", "-", ",", "/", "%", "1", "."]
        var suffixes = [""]
        var checked = 0
        var disagreements: [String] = []
        for _ in 0...4 {
            var longer: [String] = []
            for suffix in suffixes {
                let uri = "x:" + suffix
                if template.match(uri) != backtrackingMatch(template, uri) { disagreements.append(uri) }
                checked += 1
                longer += alphabet.map { suffix + $0 }
            }
            suffixes = longer
        }
        return (checked, disagreements)
    }

    /// Issue #14: matching was backtracking, about n^(k+1) for a segment of n bytes and k expressions (minutes for
    /// these 20 KB URIs); the automaton advances each of its states at most once per byte.
    @Test(arguments: [
        ("x://{a}{b}{c}!", "a", false),
        ("x://{a}-{b}-{c}!", "-", false),
        ("x://{a}-{b}-{c}", "-", true),
        ("x://{a,b}{c,d}{e}.", ",", false),
        ("x://{a}{b}{c}", "%", true),
        ("file:///{name}.{ext}", ".", true),
    ])
    func matchingIsLinearInTheURI(_ text: String, _ filler: String, _ matches: Bool) {
        let template = URITemplate(text)
        let prefix = String(text.prefix { $0 != "{" })
        var stepsByLength: [Int: Int] = [:]
        for length in [2_000, 4_000] {
            let uri = prefix + String(repeating: filler, count: length)
            var steps = 0
            let result = template.match(uri, steps: &steps)
            #expect((result != nil) == matches, "\(text) with \(length) × \(filler)")
            // Each state is entered and advanced at most once per byte.
            #expect(steps <= 2 * (uri.utf8.count + 1) * template.automaton.states.count)
            stepsByLength[length] = steps
        }
        let (short, long) = (stepsByLength[2_000]!, stepsByLength[4_000]!)
        #expect(long <= 2 * short + 100, "doubling the URI took \(short) → \(long) steps")
    }

    /// The old matcher: tries every end of each value, longest first (the reference semantics; exponential).
    private static func backtrackingMatch(_ template: URITemplate, _ uri: String) -> [String: String]? {
        func match(_ uri: [UInt8], _ start: Int, _ parts: ArraySlice<URITemplate.Part>, _ captures: inout [String: String]) -> Bool {
            guard let part = parts.first else { return start == uri.count }
            switch part {
            case .literal(let literal):
                guard uri.count - start >= literal.count, uri[start..<(start + literal.count)].elementsEqual(literal)
                else { return false }
                return match(uri, start + literal.count, parts.dropFirst(), &captures)
            case .expression(let names):
                var limit = start
                while limit < uri.count, !URITemplate.isDelimiter(uri[limit]) { limit += 1 }
                guard limit > start else { return false }
                for end in stride(from: limit, to: start, by: -1) {
                    var attempt = captures
                    let raw = uri[start..<end]
                    let values = names.count == 1 ? [raw] : raw.split(separator: UInt8(ascii: ","))
                    guard !values.isEmpty, values.count <= names.count else { continue }
                    for (name, value) in zip(names, values) { attempt[name] = decode(value) }
                    if match(uri, end, parts.dropFirst(), &attempt) {
                        captures = attempt
                        return true
                    }
                }
                return false
            }
        }
        // Percent-decoding as the template does it (checked by `matches`): only whole %XX escapes.
        func decode(_ bytes: ArraySlice<UInt8>) -> String {
            var out: [UInt8] = []
            var i = bytes.startIndex
            while i < bytes.endIndex {
                if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.endIndex,
                    let high = hex(bytes[i + 1]), let low = hex(bytes[i + 2])
                {
                    out.append(high << 4 | low)
                    i += 3
                } else {
                    out.append(bytes[i])
                    i += 1
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
        func hex(_ byte: UInt8) -> UInt8? { UInt8(String(UnicodeScalar(byte)), radix: 16) }
        var captures: [String: String] = [:]
        return match(Array(uri.utf8), 0, template.parts[...], &captures) ? captures : nil
    }
}

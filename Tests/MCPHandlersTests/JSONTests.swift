import Testing

@testable import MCPHandlers

@Suite struct JSONParserTests {
    let parser = JSONParser()

    @Test func parsesEveryKindOfValue() throws {
        let v = try parser.parse(#" {"a":[1,-2.5,true,false,null,"x"],"b":{"c":"d"},"e":1e3,"f":0} "#)
        #expect(v["a"] == [1, -2.5, true, false, nil, "x"])
        #expect(v["b"]?["c"] == "d")
        #expect(v["e"] == .double(1000))
        #expect(v["f"] == .int(0))
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let v = try parser.parse(#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00""#)
        #expect(v == .string("a\"b\\c/d\u{08}\u{0C}\n\r\té😀"))
    }

    @Test func keepsUTF8Text() throws {
        #expect(try parser.parse("\"héllo 😀\"") == "héllo 😀")
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":}", "{\"a\" 1}", "01", "-", "1.", "1e", "tru", "nul", "\"abc", "\"\\x\"",
        "\"\\ud800\"", "\"\\udc00\"", "\"\\u12\"", "[1 2]", "{\"a\":1,}", "{1:2}", "1 2", "\"\u{01}\"", "1e999",
        "@", "[", "{\"a\":1", "\"\\ud800\\u0041\"",
    ])
    func rejectsInvalidJSON(_ text: String) {
        #expect(throws: JSONParseError.self) { try parser.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try parser.parse([0x22, 0xFF, 0x22]) }
        #expect(throws: JSONParseError.self) { try parser.parse([0x22, 0x5C, 0x6E, 0xC3, 0x22]) }
    }

    @Test func boundsNestingDepth() throws {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try parser.parse(deep) }
        let objects = String(repeating: "{\"a\":", count: 200) + "1" + String(repeating: "}", count: 200)
        #expect(throws: JSONParseError.self) { try parser.parse(objects) }
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(try JSONParser().parse(ok).arrayValue?.count == 1)
    }

    @Test func hugeIntegersBecomeDoubles() throws {
        #expect(try parser.parse("12345678901234567890123") == .double(1.2345678901234568e22))
        #expect(try parser.parse("-9223372036854775808") == .int(Int.min))
    }

    @Test func errorSaysWhere() {
        do {
            _ = try parser.parse("[1, x]")
            Issue.record("expected a failure")
        } catch {
            #expect(error.offset == 4)
            #expect(error.description.contains("at byte 4"))
        }
    }

    @Test func parsesNonContiguousCollections() throws {
        let bytes = Array("[1,2]".utf8)
        #expect(try parser.parse(bytes.lazy.map { $0 }) == [1, 2])
    }
}

@Suite struct JSONWriterTests {
    @Test func roundTrips() throws {
        let value: Value = [
            "s": "a\"b\\c\n\r\t\u{08}\u{0C}\u{01}é😀", "i": -3, "d": 2.5, "b": true, "n": nil,
            "a": [1, "x", [:], []], "o": ["k": "v"],
        ]
        let text = JSONWriter.encode(value)
        #expect(try JSONParser().parse(text) == value)
    }

    @Test func escapesControlCharacters() {
        #expect(String(decoding: JSONWriter.encode("\u{01}\u{1F}"), as: UTF8.self) == #""\u0001\u001f""#)
    }

    @Test func nonFiniteNumbersBecomeNull() {
        #expect(JSONWriter.encode(.double(.infinity)) == Array("null".utf8))
        #expect(JSONWriter.encode(.double(.nan)) == Array("null".utf8))
    }

    @Test func descriptionIsCompactJSON() {
        #expect(Value.array([1, "a", nil, false]).description == #"[1,"a",null,false]"#)
    }
}

@Suite struct ValueTests {
    @Test func accessors() {
        let v: Value = ["s": "x", "i": 3, "d": 4.0, "f": 4.5, "b": true, "a": [1], "o": [:], "n": nil]
        #expect(v["s"]?.stringValue == "x")
        #expect(v["i"]?.intValue == 3)
        #expect(v["d"]?.intValue == 4)
        #expect(v["f"]?.intValue == nil)
        #expect(v["f"]?.doubleValue == 4.5)
        #expect(v["i"]?.doubleValue == 3)
        #expect(v["b"]?.boolValue == true)
        #expect(v["a"]?.arrayValue == [1])
        #expect(v["o"]?.objectValue == [:])
        #expect(v["n"]?.isNull == true)
        #expect(v["s"]?.intValue == nil && v["s"]?.boolValue == nil && v["s"]?.arrayValue == nil)
        #expect(v["s"]?.objectValue == nil && v["s"]?.doubleValue == nil && v["i"]?.stringValue == nil)
        #expect(Value.string("x")["k"] == nil)
        #expect(v.jsonTypeName == "object")
        #expect(
            [Value.null, true, 1, 1.5, "s", [], [:]].map(\.jsonTypeName)
                == ["null", "boolean", "integer", "number", "string", "array", "object"])
    }

    @Test func codableRoundTrip() throws {
        struct Point: Codable, Equatable {
            var x: Int
            var label: String
            var tags: [String]
            var ratio: Double
            var on: Bool
            var extra: String?
        }
        let point = Point(x: 1, label: "p", tags: ["a"], ratio: 0.5, on: true, extra: nil)
        let value = try Value(encoding: point)
        #expect(value["x"] == 1)
        #expect(try value.decode(as: Point.self) == point)
        let nested = try Value(encoding: ["v": Value.array([nil, 1, 2.5, "s", true, ["k": "v"]])])
        #expect(nested["v"]?.arrayValue?.count == 6)
        #expect(throws: (any Error).self) { try Value.string("x").decode(as: Point.self) }
    }
}

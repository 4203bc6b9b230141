import Foundation
import Testing

@testable import MCPHandlers

/// ``ValueDecoder``: every container kind, every scalar, the errors and their coding paths, and the same answers as
/// `JSONDecoder` on the JSON text.
@Suite struct ValueDecoderTests {
    enum Units: String, Codable, Equatable { case metric, imperial }

    struct Inner: Codable, Equatable {
        var level: UInt8
        var list: [[Int]]?
    }

    struct Weather: Codable, Equatable {
        var city: String
        var days: Int?
        var units: Units?
        var coords: [Double]?
        var tags: [String: Int]?
        var nested: Inner?
        var flag: Bool?
        var ratio: Float?
    }

    struct Scalars: Codable, Equatable {
        var i: Int, i8: Int8, i16: Int16, i32: Int32, i64: Int64
        var u: UInt, u8: UInt8, u16: UInt16, u32: UInt32, u64: UInt64
        var d: Double, f: Float, b: Bool, s: String
    }

    let decoder = ValueDecoder()

    /// `JSONDecoder`'s answer on `json`: the value, or the error's printed form.
    func viaJSONDecoder<T: Decodable & Equatable>(_ type: T.Type, _ json: String) -> Result<T, DecodingFailure> {
        Result { try JSONDecoder().decode(T.self, from: Data(json.utf8)) }.mapError(DecodingFailure.init)
    }

    /// ``ValueDecoder``'s answer on the parsed `json`.
    func viaValueDecoder<T: Decodable & Equatable>(_ type: T.Type, _ json: String) throws -> Result<T, DecodingFailure> {
        let value = try JSONParser().parse(json)
        return Result { try decoder.decode(T.self, from: value) }.mapError(DecodingFailure.init)
    }

    struct DecodingFailure: Error, Equatable {
        var text: String
        var kind: String
        init(_ error: any Error) {
            text = String(describing: error)
            switch error as? DecodingError {
            case .typeMismatch?: kind = "typeMismatch"
            case .valueNotFound?: kind = "valueNotFound"
            case .keyNotFound?: kind = "keyNotFound"
            case .dataCorrupted?: kind = "dataCorrupted"
            default: kind = "other"
            }
        }
    }

    @Test(arguments: [
        #"{"city":"Oslo"}"#,
        #"{"city":"Oslo","days":3,"units":"metric","coords":[1,2.5,-3e2],"tags":{"a":1,"2":2},"flag":true,"ratio":0.5}"#,
        #"{"city":"Oslo","nested":{"level":7,"list":[[1,2],[]]}}"#,
        #"{"city":"x","days":null,"nested":null,"tags":{}}"#,
        #"{"city":"x","days":2.0,"ratio":3}"#,
        #"{"city":"x","unknown":[1,{"a":null}]}"#,
        #"{}"#,
        #"{"city":5}"#,
        #"{"city":null}"#,
        #"{"city":"x","days":"many"}"#,
        #"{"city":"x","days":true}"#,
        #"{"city":"x","units":"kelvin"}"#,
        #"{"city":"x","units":1}"#,
        #"{"city":"x","coords":{}}"#,
        #"{"city":"x","coords":[1,"a"]}"#,
        #"{"city":"x","coords":[1,null]}"#,
        #"{"city":"x","tags":{"a":"b"}}"#,
        #"{"city":"x","tags":[]}"#,
        #"{"city":"x","nested":[]}"#,
        #"{"city":"x","nested":"deep"}"#,
        #"{"city":"x","nested":{"list":[[1]]}}"#,
        #"{"city":"x","nested":{"level":1,"list":[[1],["a"]]}}"#,
        #"{"city":"x","nested":{"level":1,"list":[1]}}"#,
        #"{"city":"x","flag":1}"#,
        #"{"city":"x","flag":"true"}"#,
        #"[1]"#,
        #""s""#,
        #"null"#,
        #"3"#,
    ])
    func sameAnswersAsJSONDecoder(json: String) throws {
        let expected = viaJSONDecoder(Weather.self, json)
        let actual = try viaValueDecoder(Weather.self, json)
        #expect(actual == expected, "\(json)")
    }

    @Test func sameScalarsAsJSONDecoder() throws {
        let json = #"""
            {"i":-1,"i8":-128,"i16":32767,"i32":-5,"i64":9007199254740993,"u":1,"u8":255,"u16":65535,
             "u32":4294967295,"u64":7,"d":1.5,"f":2,"b":false,"s":"é\n"}
            """#
        let expected = viaJSONDecoder(Scalars.self, json)
        #expect(try viaValueDecoder(Scalars.self, json) == expected)
        #expect((try? expected.get())?.i64 == 9_007_199_254_740_993)
    }

    /// Out-of-range numbers: `JSONDecoder` (Linux) says only "The given data was not valid JSON." without a path;
    /// ``ValueDecoder`` says which number, which type and where. The kind of error is the same.
    @Test(arguments: [
        (#"{"city":"x","nested":{"level":300}}"#, "nested.level", "Number 300 is not representable in UInt8."),
        (#"{"city":"x","nested":{"level":-1}}"#, "nested.level", "Number -1 is not representable in UInt8."),
        (#"{"city":"x","days":1.5}"#, "days", "Number 1.5 is not representable in Int."),
        (#"{"city":"x","days":1e30}"#, "days", "Number 1e+30 is not representable in Int."),
        (#"{"city":"x","ratio":1e300}"#, "ratio", "Number 1e+300 is not representable in Float."),
    ])
    func outOfRangeNumbersNameTheirPlace(json: String, path: String, message: String) throws {
        let expected = viaJSONDecoder(Weather.self, json)
        guard case .failure(let jsonFailure) = expected, case .failure(let failure) = try viaValueDecoder(Weather.self, json)
        else {
            Issue.record("decoded \(json)")
            return
        }
        #expect(failure.kind == jsonFailure.kind)
        #expect(failure.kind == "dataCorrupted")
        #expect(failure.text.contains("Path: \(path)."), "\(failure.text)")
        #expect(failure.text.contains(message), "\(failure.text)")
    }

    @Test(arguments: [
        (Value.int(127), true), (.int(128), false), (.int(-128), true), (.int(-129), false), (.double(12), true),
        (.double(12.5), false),
    ])
    func int8RangeIsChecked(value: Value, fits: Bool) {
        let decoded = try? decoder.decode(Int8.self, from: value)
        #expect((decoded != nil) == fits)
    }

    /// The parser keeps integers above `Int.max` as doubles, rounded: `9223372036854775809` would decode as
    /// `…808` in a `UInt64`. Integral doubles are integers only below 2^53, where every integer is exact.
    @Test func integersBeyondTwoToThe53AreRefusedRatherThanRounded() throws {
        let parsed = try JSONParser().parse("9223372036854775809")
        #expect(throws: DecodingError.self) { try decoder.decode(UInt64.self, from: parsed) }
        #expect(try decoder.decode(UInt64.self, from: .double(9_007_199_254_740_991)) == 9_007_199_254_740_991)
        #expect(throws: DecodingError.self) { try decoder.decode(Int64.self, from: .double(-0x1p53)) }
    }

    @Test func doublesAcceptIntegers() throws {
        #expect(try decoder.decode(Double.self, from: 3) == 3.0)
        #expect(try decoder.decode(Float.self, from: 0.25) == 0.25)
        #expect(try decoder.decode(Int.self, from: .double(4)) == 4)
        #expect(throws: DecodingError.self) { try decoder.decode(Double.self, from: "3") }
    }

    @Test func boolsAndStringsTakeOnlyTheirOwnType() throws {
        #expect(try decoder.decode(Bool.self, from: true))
        #expect(try decoder.decode(String.self, from: "s") == "s")
        #expect(throws: DecodingError.self) { try decoder.decode(Bool.self, from: 1) }
        #expect(throws: DecodingError.self) { try decoder.decode(String.self, from: 1) }
    }

    @Test func optionalsAreNilForNullAndMissing() throws {
        struct Maybe: Decodable { var a: Int?; var b: String? }
        let decoded = try decoder.decode(Maybe.self, from: ["a": nil])
        #expect(decoded.a == nil && decoded.b == nil)
        #expect(try decoder.decode(Int?.self, from: nil) == nil)
        #expect(try decoder.decode([Int?].self, from: [1, nil]) == [1, nil])
    }

    @Test func arraysAndDictionaries() throws {
        #expect(try decoder.decode([[Int]].self, from: [[1], [], [2, 3]]) == [[1], [], [2, 3]])
        #expect(try decoder.decode([String: [Bool]].self, from: ["a": [true], "b": []]) == ["a": [true], "b": []])
        #expect(try decoder.decode([Int: String].self, from: ["1": "one"]) == [1: "one"])
        #expect(try decoder.decode(Set<String>.self, from: ["a", "b", "a"]) == ["a", "b"])
    }

    @Test func valuesAreTakenAsTheyStand() throws {
        struct Raw: Decodable { var any: Value; var list: [Value] }
        let raw = try decoder.decode(Raw.self, from: ["any": ["x": [1, 2.5, nil, "s"]], "list": [true, [:]]])
        #expect(raw.any == ["x": [1, 2.5, nil, "s"]])
        #expect(raw.list == [true, [:]])
        let whole: Value = ["n": .double(1)]
        #expect(try decoder.decode(Value.self, from: whole) == whole)
    }

    @Test func foundationTypesFollowJSONDecodersDefaults() throws {
        struct Foundationy: Codable, Equatable { var url: URL; var data: Data; var date: Date; var amount: Decimal }
        let json = #"{"url":"https://example.com/a?b=c","data":"AAEC","date":12.5,"amount":1.25}"#
        let expected = viaJSONDecoder(Foundationy.self, json)
        #expect(try viaValueDecoder(Foundationy.self, json) == expected)
        #expect((try? expected.get())?.data == Data([0, 1, 2]))
        let bad = #"{"url":"https://example.com","data":"%%","date":0,"amount":1}"#
        #expect(try viaValueDecoder(Foundationy.self, bad) == viaJSONDecoder(Foundationy.self, bad))
    }

    @Test func handWrittenContainers() throws {
        struct Manual: Decodable, Equatable {
            var first: Int
            var rest: [String]
            var point: (x: Int, y: Int)
            var hadNull: Bool
            enum Keys: String, CodingKey { case head, tail, point }
            enum PointKeys: String, CodingKey { case x, y }
            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: Keys.self)
                #expect(Set(container.allKeys.map(\.stringValue)) == ["head", "tail", "point"])
                #expect(container.contains(.head))
                var head = try container.nestedUnkeyedContainer(forKey: .head)
                #expect(head.count == 3 && head.currentIndex == 0)
                first = try head.decode(Int.self)
                hadNull = try head.decodeNil()
                #expect(try !head.decodeNil())
                var inner = try head.nestedUnkeyedContainer()
                rest = [try inner.decode(String.self)]
                #expect(head.isAtEnd && inner.isAtEnd)
                #expect(throws: DecodingError.self) { try head.decode(Int.self) }
                #expect(throws: DecodingError.self) { try head.decodeNil() }
                let tail = try container.decode([String].self, forKey: .tail)
                rest += tail
                let point = try container.nestedContainer(keyedBy: PointKeys.self, forKey: .point)
                self.point = (try point.decode(Int.self, forKey: .x), try point.decode(Int.self, forKey: .y))
                #expect(point.codingPath.map(\.stringValue) == ["point"])
            }
            static func == (a: Manual, b: Manual) -> Bool {
                a.first == b.first && a.rest == b.rest && a.point == b.point && a.hadNull == b.hadNull
            }
        }
        let value: Value = ["head": [1, nil, ["two"]], "tail": ["three"], "point": ["x": 4, "y": 5]]
        let manual = try decoder.decode(Manual.self, from: value)
        #expect(manual.first == 1 && manual.hadNull && manual.rest == ["two", "three"] && manual.point == (4, 5))
        let viaJSON = try JSONDecoder().decode(Manual.self, from: Data(JSONWriter.encode(value)))
        #expect(viaJSON == manual)
    }

    @Test func superDecodersReadTheSuperKey() throws {
        class Base: Decodable {
            let id: Int
            enum Keys: String, CodingKey { case id }
            required init(from decoder: any Decoder) throws {
                id = try decoder.container(keyedBy: Keys.self).decode(Int.self, forKey: .id)
            }
        }
        final class Derived: Base, @unchecked Sendable {
            let name: String
            enum Keys: String, CodingKey { case name }
            required init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: Keys.self)
                name = try container.decode(String.self, forKey: .name)
                try super.init(from: container.superDecoder())
            }
        }
        struct MissingKey: Decodable {
            enum Keys: String, CodingKey { case absent }
            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: Keys.self)
                #expect(!container.contains(.absent))
                #expect(throws: DecodingError.self) { try container.decodeNil(forKey: .absent) }
                #expect(throws: DecodingError.self) { try container.nestedUnkeyedContainer(forKey: .absent) }
            }
        }
        _ = try decoder.decode(MissingKey.self, from: [:])
        let derived = try decoder.decode(Derived.self, from: ["name": "n", "super": ["id": 3]])
        #expect(derived.name == "n" && derived.id == 3)
        #expect(throws: DecodingError.self) { try decoder.decode(Derived.self, from: ["name": "n"]) }
    }

    @Test func errorsCarryTheCodingPath() throws {
        do {
            _ = try decoder.decode(Weather.self, from: ["city": "x", "nested": ["level": 1, "list": [[1], ["a"]]]])
            Issue.record("decoded")
        } catch DecodingError.typeMismatch(let type, let context) {
            #expect(ObjectIdentifier(type) == ObjectIdentifier(Int.self))
            #expect(context.codingPath.map(\.stringValue) == ["nested", "list", "Index 1", "Index 0"])
            #expect(context.codingPath.map(\.intValue) == [nil, nil, 1, 0])
        }
    }

    /// The tool's error message carries the decoding error's path and description, as it did through JSONDecoder.
    @Test func typedToolErrorsNameThePath() async throws {
        struct Args: Decodable { let city: String; let days: Int? }
        let server = MCPServer(name: "t", version: "1")
        // A permissive schema: the arguments reach the decoder (a derived schema would refuse them first).
        server.registerTool(name: "weather", inputSchema: ["type": "object"]) { (args: Args, _) in .text("\(args.city)") }
        let answer = await server.handle(
            JSONRPCRequest(
                id: .number(1), method: "tools/call",
                params: ["name": "weather", "arguments": ["city": "Oslo", "days": "many"]]),
            context: context(nil))
        guard case .failure(let error) = answer else {
            Issue.record("accepted")
            return
        }
        #expect(error.code == MCPError.Code.invalidParams)
        #expect(error.message.hasPrefix("Invalid arguments for tool weather: "))
        #expect(error.message.contains("Path: days."))
        #expect(error.message.contains("Expected to decode Int but found a string instead."))
    }
}

import Foundation
import Testing

@testable import MCPHandlers

/// The shared helpers: ``Base64URL`` (on swift-extras-base64) and the `Duration` conversions.
@Suite struct Base64URLTests {
    /// RFC 4648 §10's vectors, in the URL alphabet without padding.
    @Test(arguments: [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648Vectors(plain: String, encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(plain.utf8))
    }

    @Test func usesTheURLAlphabet() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF, 0xFE]
        #expect(Base64URL.encode(bytes) == "-_-__g")
        #expect(Base64URL.decode("-_-__g") == bytes)
        // The standard alphabet's + and / are not base64url.
        #expect(Base64URL.decode("+/+//g") == nil)
    }

    @Test func paddingIsOptionalButOnlyAtTheEnd() {
        #expect(Base64URL.decode("Zm8=") == Array("fo".utf8))
        #expect(Base64URL.decode("Zg==") == Array("f".utf8))
        for bad in ["Zg=", "Z===", "Zg=A", "=Zg=", "Zm8==", "Zm9v=", "Z", "Zm9vY", "Zm 9v", "Zm9v!"] {
            #expect(Base64URL.decode(bad) == nil, "\(bad)")
        }
    }

    @Test func roundTripsEveryLengthLikeFoundation() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = Base64URL.encode(bytes)
            let foundation = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            #expect(encoded == foundation)
            #expect(Base64URL.decode(encoded) == bytes)
            #expect(Base64URL.decode(Substring(encoded)) == bytes)
        }
    }
}

@Suite struct DurationSecondsTests {
    @Test func secondsWithTheirFraction() {
        #expect(Duration.milliseconds(1500).secondsValue == 1.5)
        #expect(Duration.seconds(30 * 60).secondsValue == 1800)
        #expect(Duration.microseconds(-250).secondsValue == -0.00025)
        #expect(Duration.zero.secondsValue == 0)
    }

    @Test func wholeUnitsAreTruncated() {
        let d = Duration.seconds(2) + .nanoseconds(1_999_999)
        #expect(d.wholeNanoseconds == 2_001_999_999)
        #expect(d.wholeMicroseconds == 2_001_999)
        #expect(d.wholeMilliseconds == 2_001)
        #expect(Duration.nanoseconds(999).wholeMicroseconds == 0)
    }

    @Test func wholeUnitsSaturate() {
        let huge = Duration.seconds(Int64.max / 10)
        #expect(huge.wholeNanoseconds == .max)
        #expect(huge.wholeMicroseconds == .max)
        #expect(Duration.seconds(-(Int64.max / 10)).wholeNanoseconds == .min)
        #expect(Duration.seconds(10_000_000_000).wholeNanoseconds == .max)
        #expect(Duration.seconds(9_000_000_000).wholeNanoseconds == 9_000_000_000_000_000_000)
        #expect(Duration.seconds(9_000_000_000).wholeMilliseconds == 9_000_000_000_000)
    }
}

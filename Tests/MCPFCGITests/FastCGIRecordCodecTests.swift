import Testing

@testable import MCPFCGI

/// The one FastCGI wire codec: headers, streams, name-value pairs, END_REQUEST and the incremental decoder.
@Suite struct FastCGIRecordTests {
    @Test func fastCGIRecords() {
        let small = FastCGIRecord.stdout(requestID: 258, [1, 2, 3])
        #expect(small == [1, 6, 1, 2, 0, 3, 0, 0, 1, 2, 3])
        let big = FastCGIRecord.stdout(requestID: 1, [UInt8](repeating: 7, count: 40_000))
        #expect(big.count == 40_000 + 16)
        #expect(big[4] == 0x80 && big[5] == 0)
        #expect(FastCGIRecord.stdout(requestID: 1, []) == [1, 6, 0, 1, 0, 0, 0, 0])
        #expect(FastCGIRecord.end(requestID: 1) == [1, 6, 0, 1, 0, 0, 0, 0, 1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }
}

@Suite struct FastCGIRecordCodecTests {
    /// Every record of `bytes`, fed to the decoder `piece` bytes at a time.
    func decodeAll(_ bytes: [UInt8], piece: Int) throws -> [FastCGIRecord] {
        var decoder = FastCGIRecord.Decoder()
        var records: [FastCGIRecord] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + piece)
            decoder.append(bytes[offset..<end])
            offset = end
            while let record = try decoder.next() { records.append(record) }
        }
        #expect(decoder.bufferedCount == 0)
        return records
    }

    @Test func headerLayout() {
        #expect(
            FastCGIRecord.header(type: 5, requestID: 0x1234, contentLength: 0xABCD, paddingLength: 3)
                == [1, 5, 0x12, 0x34, 0xAB, 0xCD, 3, 0])
        #expect(FastCGIRecord(.params, requestID: 7, content: [9]).encoded(paddingLength: 2) == [1, 4, 0, 7, 0, 1, 2, 0, 9, 0, 0])
    }

    @Test func beginRequestIsTheResponderRole() {
        #expect(FastCGIRecord.beginRequest(requestID: 1) == [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])
        #expect(FastCGIRecord.beginRequest(requestID: 2, keepConnection: true)[10] == 1)
    }

    @Test func endRequestCarriesTheStatuses() throws {
        let bytes = FastCGIRecord.end(requestID: 9, appStatus: 0x0102_0304, protocolStatus: 2)
        let records = try decodeAll(bytes, piece: bytes.count)
        #expect(records.map(\.kind) == [.stdout, .endRequest])
        #expect(records[0].content.isEmpty)
        #expect(records[1].content == [1, 2, 3, 4, 2, 0, 0, 0])
        #expect(records[1].protocolStatus == 2)
        #expect(records[0].protocolStatus == nil)
        #expect(FastCGIRecord(.endRequest, requestID: 1, content: [0, 0]).protocolStatus == nil)
    }

    @Test(arguments: [0, 1, 65_535, 65_536, 200_000])
    func streamsRoundTrip(length: Int) throws {
        let body = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 31) }
        let bytes = FastCGIRecord.stream(.stdin, requestID: 3, body)
        let records = try decodeAll(bytes, piece: 4096)
        #expect(records.allSatisfy { $0.kind == .stdin && $0.requestID == 3 })
        #expect(records.allSatisfy { $0.content.count <= FastCGIRecord.maxContentLength })
        #expect(records.last?.content.isEmpty == true)
        #expect(records.dropLast().allSatisfy { !$0.content.isEmpty })
        #expect(records.flatMap(\.content) == body)
        #expect(records.count == (length + 65_534) / 65_535 + 1)
    }

    @Test func stdoutIsCutAt32KiB() throws {
        let body = [UInt8](repeating: 1, count: 3 * FastCGIRecord.maxContent + 5)
        let records = try decodeAll(FastCGIRecord.stdout(requestID: 1, body), piece: 1000)
        #expect(records.map(\.content.count) == [32_768, 32_768, 32_768, 5])
    }

    @Test(arguments: [
        (0, 1), (127, 1), (128, 4), (255, 4), (70_000, 4),
    ])
    func pairLengthsUseOneOrFourBytes(length: Int, size: Int) throws {
        let encoded = FastCGIRecord.pairLength(length)
        #expect(encoded.count == size)
        if size == 4 {
            #expect(encoded[0] & 0x80 != 0)
            #expect(Int(encoded[0] & 0x7F) << 24 | Int(encoded[1]) << 16 | Int(encoded[2]) << 8 | Int(encoded[3]) == length)
        } else {
            #expect(Int(encoded[0]) == length)
        }
    }

    @Test func nameValuePairsRoundTrip() throws {
        let pairs = [
            ("A", ""), ("", "empty name"), (String(repeating: "n", count: 127), String(repeating: "v", count: 128)),
            (String(repeating: "N", count: 128), String(repeating: "V", count: 127)),
            ("HTTP_X_BIG", String(repeating: "é", count: 40_000)), ("REQUEST_URI", "/mcp?q=ü"),
        ]
        let encoded = FastCGIRecord.nameValuePairs(pairs)
        // 127 and 128 byte lengths: 1 byte, then 4 bytes.
        let third = 2 + 1 + 2 + 10
        #expect(Array(encoded[third..<(third + 5)]) == [127, 0x80, 0, 0, 128])
        let decoded = try FastCGIRecord.decodeNameValuePairs(encoded)
        #expect(decoded.map(\.0) == pairs.map(\.0))
        #expect(decoded.map(\.1) == pairs.map(\.1))
        // Through PARAMS records, split across reads.
        let records = try decodeAll(FastCGIRecord.stream(.params, requestID: 1, encoded), piece: 7)
        let again = try FastCGIRecord.decodeNameValuePairs(records.flatMap(\.content))
        #expect(again.map(\.1) == pairs.map(\.1))
    }

    @Test(arguments: [[UInt8]([5]), [5, 1, 65], [0x80, 0, 0], [0x80, 0, 0, 1, 0], [1, 0x80, 0, 0, 9, 65]])
    func truncatedPairsAreRejected(bytes: [UInt8]) {
        #expect(throws: FastCGIRecord.DecodingError.truncatedNameValuePair) {
            try FastCGIRecord.decodeNameValuePairs(bytes)
        }
    }

    @Test func paddingIsSkipped() throws {
        let bytes =
            FastCGIRecord(.stdout, requestID: 1, content: [1, 2, 3]).encoded(paddingLength: 5)
            + FastCGIRecord(.stderr, requestID: 1, content: [4]).encoded(paddingLength: 7)
            + FastCGIRecord(.stdout, requestID: 1).encoded(paddingLength: 0)
        for piece in [1, 3, 8, 11, bytes.count] {
            let records = try decodeAll(bytes, piece: piece)
            #expect(records.map(\.content) == [[1, 2, 3], [4], []], "piece \(piece)")
            #expect(records.map(\.kind) == [.stdout, .stderr, .stdout])
        }
    }

    @Test func recordsSplitAcrossReads() throws {
        let bytes =
            FastCGIClient.request(requestID: 0x0102, params: [("REQUEST_METHOD", "POST")], body: Array("{}".utf8))
            + FastCGIRecord.end(requestID: 0x0102)
        var decoder = FastCGIRecord.Decoder()
        // Header only partly there, then the header without its content: no record yet.
        decoder.append(bytes[0..<5])
        #expect(try decoder.next() == nil)
        decoder.append(bytes[5..<8])
        #expect(try decoder.next() == nil)
        decoder.append(bytes[8...])
        var kinds: [FastCGIRecord.Kind?] = []
        while let record = try decoder.next() {
            #expect(record.requestID == 0x0102)
            kinds.append(record.kind)
        }
        #expect(kinds == [.beginRequest, .params, .params, .stdin, .stdin, .stdout, .endRequest])
        #expect(decoder.bufferedCount == 0)
        #expect(try decoder.next() == nil)
    }

    @Test func manyRecordsInOneBufferCompact() throws {
        let one = FastCGIRecord.stdout(requestID: 1, [UInt8](repeating: 2, count: 1000))
        let bytes = Array([[UInt8]](repeating: one, count: 300).joined())
        let records = try decodeAll(bytes, piece: bytes.count)
        #expect(records.count == 300)
        #expect(records.allSatisfy { $0.content.count == 1000 })
    }

    @Test func unknownTypesAreKeptRaw() throws {
        let records = try decodeAll(FastCGIRecord(type: 42, requestID: 0, content: [1]).encoded(), piece: 2)
        #expect(records == [FastCGIRecord(type: 42, requestID: 0, content: [1])])
        #expect(records[0].kind == nil)
    }

    @Test func aMalformedHeaderIsRejected() {
        var decoder = FastCGIRecord.Decoder()
        decoder.append(Array("HTTP/1.1 200 OK\r\n".utf8))
        #expect(throws: FastCGIRecord.DecodingError.unsupportedVersion(UInt8(ascii: "H"))) { try decoder.next() }
        var versionTwo = FastCGIRecord.Decoder()
        versionTwo.append([2, 6, 0, 1, 0, 0, 0, 0])
        #expect(throws: FastCGIRecord.DecodingError.unsupportedVersion(2)) { try versionTwo.next() }
    }
}

/// The FastCGI 1.0 wire codec (spec §3.3–§3.4, §5): one record type and its encoders and decoders, used by the
/// ``StreamHub`` (STDOUT/END_REQUEST on handed-off connections), ``FastCGIClient`` (the peer client) and the tests'
/// stand-in for nginx.
///
/// A record is an 8-byte header (version 1, type, request id, content length, padding length, reserved), the
/// content (at most 65,535 bytes) and the padding.
package struct FastCGIRecord: Equatable, Sendable {
    /// The record types of FastCGI 1.0 (§8).
    package enum Kind: UInt8, Sendable {
        case beginRequest = 1, abortRequest = 2, endRequest = 3, params = 4, stdin = 5, stdout = 6, stderr = 7
        case data = 8, getValues = 9, getValuesResult = 10, unknownType = 11
    }

    /// Why bytes are not FastCGI records.
    package enum DecodingError: Error, Equatable, Sendable {
        /// The header's version byte is not 1.
        case unsupportedVersion(UInt8)
        /// A name-value pair's lengths run past the end of its content.
        case truncatedNameValuePair
    }

    /// The header's version byte: FastCGI 1.0.
    package static let version: UInt8 = 1
    /// The length of a record header.
    package static let headerLength = 8
    /// The largest content of one record.
    package static let maxContentLength = 0xFFFF
    /// The content size the ``StreamHub`` writes its STDOUT records in.
    package static let maxContent = 32_768
    /// `FCGI_RESPONDER`, the role of every request this project sends or serves.
    package static let responderRole: UInt16 = 1

    /// The record type byte (a ``Kind`` raw value, or an unknown one).
    package var type: UInt8
    /// The request id (0 for management records).
    package var requestID: UInt16
    /// The content, without padding.
    package var content: [UInt8]

    /// A record.
    package init(type: UInt8, requestID: UInt16, content: [UInt8] = []) {
        self.type = type
        self.requestID = requestID
        self.content = content
    }

    /// A record of a known type.
    package init(_ kind: Kind, requestID: UInt16, content: [UInt8] = []) {
        self.init(type: kind.rawValue, requestID: requestID, content: content)
    }

    /// The record's type, when it is one of FastCGI 1.0's.
    package var kind: Kind? { Kind(rawValue: type) }

    // MARK: Encoding

    /// A record header. `contentLength` must be at most 65,535.
    package static func header(type: UInt8, requestID: UInt16, contentLength: Int, paddingLength: UInt8 = 0) -> [UInt8] {
        precondition(contentLength >= 0 && contentLength <= maxContentLength, "FastCGI content too long")
        return [
            version, type, UInt8(requestID >> 8), UInt8(requestID & 0xFF), UInt8(contentLength >> 8),
            UInt8(contentLength & 0xFF), paddingLength, 0,
        ]
    }

    /// This record's bytes: header, content, `paddingLength` zero bytes.
    package func encoded(paddingLength: UInt8 = 0) -> [UInt8] {
        var out = Self.header(type: type, requestID: requestID, contentLength: content.count, paddingLength: paddingLength)
        out += content
        out += repeatElement(0, count: Int(paddingLength))
        return out
    }

    /// `bytes` as records of `kind` of at most `chunk` bytes each, in order; `bytes` empty gives nothing.
    package static func records(
        _ kind: Kind, requestID: UInt16, _ bytes: some Collection<UInt8>, chunk: Int = maxContentLength
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + headerLength * (bytes.count / chunk + 1))
        var start = bytes.startIndex
        while start != bytes.endIndex {
            let end = bytes.index(start, offsetBy: chunk, limitedBy: bytes.endIndex) ?? bytes.endIndex
            out += header(type: kind.rawValue, requestID: requestID, contentLength: bytes.distance(from: start, to: end))
            out += bytes[start..<end]
            start = end
        }
        return out
    }

    /// A whole stream (`PARAMS`, `STDIN`): `bytes` as records, then the empty record that ends the stream.
    package static func stream(_ kind: Kind, requestID: UInt16, _ bytes: some Collection<UInt8>) -> [UInt8] {
        records(kind, requestID: requestID, bytes) + header(type: kind.rawValue, requestID: requestID, contentLength: 0)
    }

    /// `FCGI_BEGIN_REQUEST` in the responder role; without `keepConnection` the application closes the connection
    /// after answering.
    package static func beginRequest(requestID: UInt16, role: UInt16 = responderRole, keepConnection: Bool = false)
        -> [UInt8]
    {
        FastCGIRecord(
            .beginRequest, requestID: requestID,
            content: [UInt8(role >> 8), UInt8(role & 0xFF), keepConnection ? 1 : 0, 0, 0, 0, 0, 0]
        ).encoded()
    }

    /// `bytes` as FCGI_STDOUT records of at most 32 KiB each; an empty `bytes` gives one empty record.
    package static func stdout(requestID: UInt16, _ bytes: [UInt8]) -> [UInt8] {
        bytes.isEmpty
            ? header(type: Kind.stdout.rawValue, requestID: requestID, contentLength: 0)
            : records(.stdout, requestID: requestID, bytes, chunk: maxContent)
    }

    /// The end of a response: an empty FCGI_STDOUT record, then FCGI_END_REQUEST (`appStatus`, request complete).
    package static func end(requestID: UInt16, appStatus: UInt32 = 0, protocolStatus: UInt8 = 0) -> [UInt8] {
        header(type: Kind.stdout.rawValue, requestID: requestID, contentLength: 0)
            + FastCGIRecord(
                .endRequest, requestID: requestID,
                content: [
                    UInt8(appStatus >> 24), UInt8((appStatus >> 16) & 0xFF), UInt8((appStatus >> 8) & 0xFF),
                    UInt8(appStatus & 0xFF), protocolStatus, 0, 0, 0,
                ]
            ).encoded()
    }

    /// ``end(requestID:appStatus:protocolStatus:)`` followed by an empty `FCGI_STDOUT` record, to be written in one
    /// piece before the application closes a connection nginx asked to keep (`FCGI_KEEP_CONN`): nginx keeps an
    /// upstream connection only when `END_REQUEST` is the last thing it read, so it drops this one instead of caching a
    /// connection about to close (which it might not notice before it sends the next request into it).
    package static func endBeforeClosing(requestID: UInt16) -> [UInt8] {
        end(requestID: requestID) + header(type: Kind.stdout.rawValue, requestID: requestID, contentLength: 0)
    }

    /// The protocol status of an `FCGI_END_REQUEST` record (0 = request complete), or nil for another record or a
    /// short body.
    package var protocolStatus: UInt8? {
        kind == .endRequest && content.count >= 5 ? content[4] : nil
    }

    // MARK: Name-value pairs

    /// Name-value pairs as `PARAMS` content (§3.4): each length in 1 byte below 128, else in 4 bytes with the high
    /// bit set.
    package static func nameValuePairs(_ pairs: some Sequence<(String, String)>) -> [UInt8] {
        var out: [UInt8] = []
        for (name, value) in pairs {
            out += pairLength(name.utf8.count)
            out += pairLength(value.utf8.count)
            out += name.utf8
            out += value.utf8
        }
        return out
    }

    /// One name-value pair length.
    package static func pairLength(_ n: Int) -> [UInt8] {
        n < 128
            ? [UInt8(n)]
            : [UInt8((n >> 24) & 0x7F | 0x80), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)]
    }

    /// The name-value pairs of `PARAMS` content, in order.
    /// - Throws: ``DecodingError/truncatedNameValuePair`` when a length runs past the end.
    package static func decodeNameValuePairs(_ bytes: [UInt8]) throws(DecodingError) -> [(String, String)] {
        var pairs: [(String, String)] = []
        var i = 0
        func length() throws(DecodingError) -> Int {
            guard i < bytes.count else { throw .truncatedNameValuePair }
            if bytes[i] < 128 {
                i += 1
                return Int(bytes[i - 1])
            }
            guard i + 4 <= bytes.count else { throw .truncatedNameValuePair }
            defer { i += 4 }
            return Int(bytes[i] & 0x7F) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
        }
        while i < bytes.count {
            let nameLength = try length()
            let valueLength = try length()
            guard nameLength + valueLength <= bytes.count - i else { throw .truncatedNameValuePair }
            let name = String(decoding: bytes[i..<(i + nameLength)], as: UTF8.self)
            let value = String(decoding: bytes[(i + nameLength)..<(i + nameLength + valueLength)], as: UTF8.self)
            pairs.append((name, value))
            i += nameLength + valueLength
        }
        return pairs
    }

    // MARK: Decoding a byte stream

    /// Splits a byte stream, read in pieces of any size, into records: feed it with ``append(_:)``, take whole
    /// records with ``next()`` until it returns nil (it needs more bytes).
    package struct Decoder: Sendable {
        private var buffer: [UInt8] = []
        private var start = 0

        /// An empty decoder.
        package init() {}

        /// Bytes read but not yet returned as part of a record.
        package var bufferedCount: Int { buffer.count - start }

        /// Adds bytes read from the connection.
        package mutating func append(_ bytes: some Collection<UInt8>) {
            if start > 0, start == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                start = 0
            }
            buffer += bytes
        }

        /// The next whole record, padding skipped, or nil when the bytes of one have not all arrived.
        /// - Throws: ``DecodingError/unsupportedVersion(_:)`` when a header's version byte is not 1 (the stream
        ///   is not FastCGI, or out of step).
        package mutating func next() throws(DecodingError) -> FastCGIRecord? {
            guard buffer.count - start >= FastCGIRecord.headerLength else { return nil }
            guard buffer[start] == FastCGIRecord.version else { throw .unsupportedVersion(buffer[start]) }
            let contentLength = Int(buffer[start + 4]) << 8 | Int(buffer[start + 5])
            let total = FastCGIRecord.headerLength + contentLength + Int(buffer[start + 6])
            guard buffer.count - start >= total else { return nil }
            let contentStart = start + FastCGIRecord.headerLength
            let record = FastCGIRecord(
                type: buffer[start + 1], requestID: UInt16(buffer[start + 2]) << 8 | UInt16(buffer[start + 3]),
                content: Array(buffer[contentStart..<(contentStart + contentLength)]))
            start += total
            if start > 65_536, start * 2 > buffer.count {
                buffer.removeFirst(start)
                start = 0
            }
            return record
        }
    }
}

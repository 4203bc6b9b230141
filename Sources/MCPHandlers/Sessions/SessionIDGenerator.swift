/// Makes session ids: the user's generator when it gives a valid, unused id, else a random one.
///
/// Ids are `<node>.<random>` when a node id is set, so nginx can route a session to the worker
/// process that owns it (see README, "Several worker processes").
public struct SessionIDGenerator: Sendable {
    /// The longest id accepted from a custom generator. 255.
    public static let maximumLength = 255

    /// The worker's node id (prefix of every default id), or nil for none.
    public var nodeID: String?
    /// The user's generator, if any.
    public var custom: (@Sendable () throws -> String)?

    /// Creates a generator.
    /// - Parameters:
    ///   - nodeID: the worker's node id (prefix of default ids).
    ///   - custom: the user's generator.
    public init(nodeID: String? = nil, custom: (@Sendable () throws -> String)? = nil) {
        self.nodeID = nodeID
        self.custom = custom
    }

    /// Why a custom id was refused.
    public enum Rejection: Equatable, Sendable {
        /// The generator threw.
        case threw(String)
        /// Empty, too long, or not visible ASCII.
        case invalid
        /// Already in use.
        case duplicate
    }

    /// A new id, and why the custom generator's id was refused (if it was): the custom generator's id when
    /// `isTaken` says it is unused, else a random one. A random id (≥ 128 bits) is not looked up — a store would
    /// pay a query for a collision that does not happen; should one happen, the store's insert refuses the
    /// duplicate and ``MCPServer`` draws again.
    /// - Parameter isTaken: whether an id is already live (it may ask a session store).
    /// - Throws: what `isTaken` throws.
    public func next(isTaken: (String) async throws -> Bool) async rethrows -> (id: String, rejection: Rejection?) {
        var rejection: Rejection? = nil
        if let custom {
            do {
                let id = try custom()
                if !Self.isValid(id) {
                    rejection = .invalid
                } else if try await isTaken(id) {
                    rejection = .duplicate
                } else {
                    return (id, nil)
                }
            } catch {
                rejection = .threw(String(describing: error))
            }
        }
        return (defaultID(), rejection)
    }

    /// `<node>.<22 random base62 characters>` (≥ 128 bits from the system's CSPRNG).
    public func defaultID() -> String {
        let random = Self.randomBase62(count: 22)
        if let nodeID { return nodeID + "." + random }
        return random
    }

    /// Whether `id` is non-empty, at most ``maximumLength`` long and only visible ASCII (0x21–0x7E).
    public static func isValid(_ id: String) -> Bool {
        let utf8 = id.utf8
        return !utf8.isEmpty && utf8.count <= maximumLength && utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }

    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// `count` characters from [0-9A-Za-z], uniformly, from the system's CSPRNG (getrandom on Linux).
    ///
    /// Each draw from the generator (one system call) gives 8 random bytes; a byte below 248 (4 × 62) picks a
    /// character (`byte % 62`, uniform), a byte of 248 or more is dropped. 22 characters take 3 draws nearly
    /// always, instead of one draw per character.
    public static func randomBase62(count: Int) -> String {
        var rng = SystemRandomNumberGenerator()
        return String(unsafeUninitializedCapacity: count) { out in
            var filled = 0
            while filled < count {
                var word = rng.next()
                for _ in 0..<8 where filled < count {
                    let byte = UInt8(truncatingIfNeeded: word)
                    word >>= 8
                    if byte < 248 {
                        out[filled] = alphabet[Int(byte % 62)]
                        filled += 1
                    }
                }
            }
            return count
        }
    }
}

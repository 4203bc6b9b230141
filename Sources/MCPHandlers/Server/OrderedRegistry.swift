/// Entries in registration order with O(1) lookup by key: the storage of every list method's registry.
///
/// Replacing an entry keeps its position; removing one shifts the later ones (and their cursors) down.
struct OrderedRegistry<Entry: Sendable>: Sendable {
    private(set) var entries: [Entry] = []
    private var keys: [String] = []
    private var index: [String: Int] = [:]

    /// Adds an entry, or replaces the one with the same key in place.
    mutating func upsert(_ entry: Entry, key: String) {
        if let i = index[key] {
            entries[i] = entry
        } else {
            index[key] = entries.count
            entries.append(entry)
            keys.append(key)
        }
    }

    /// Removes the entry with that key; returns whether there was one.
    mutating func remove(key: String) -> Bool {
        guard let i = index.removeValue(forKey: key) else { return false }
        entries.remove(at: i)
        keys.remove(at: i)
        for j in i..<keys.count { index[keys[j]] = j }
        return true
    }

    /// The entry with that key.
    subscript(key: String) -> Entry? { index[key].map { entries[$0] } }

    /// Whether an entry has that key.
    func contains(_ key: String) -> Bool { index[key] != nil }

    /// Whether there are no entries.
    var isEmpty: Bool { entries.isEmpty }
}

import MCPHTTP
import MCPOAuth
/// A Prometheus text exposition (format 0.0.4), parsed just enough to merge the pages of several workers into
/// one valid page: every sample labelled with its worker, and each metric family's `# HELP` and `# TYPE` once,
/// with every worker's samples of that family grouped under them.
///
/// Parsing keeps label values as written (escaped), so rendering never re-escapes them. Lines that are not a
/// comment, a blank or a well-formed sample are dropped.
struct PrometheusExposition: Sendable {
    /// One sample line: `name{labels} value [timestamp]`.
    struct Sample: Sendable, Equatable {
        /// The sample's name (`x_bucket` for a bucket of the histogram `x`).
        var name: String
        /// Label names and their values as written (escaped, without the quotes).
        var labels: [(name: String, value: String)]
        /// The value and optional timestamp, as written.
        var value: String

        static func == (a: Sample, b: Sample) -> Bool {
            a.name == b.name && a.value == b.value && a.labels.elementsEqual(b.labels) { $0 == $1 }
        }

        /// The (escaped) value of the label `name`, if the sample has it.
        func label(_ name: String) -> String? { labels.first { $0.name == name }?.value }
    }

    /// A metric family: its `# TYPE` and `# HELP` (nil when the page had none) and its samples.
    struct Family: Sendable {
        var name: String
        var type: String?
        var help: String?
        var samples: [Sample]
    }

    /// The families by name.
    private(set) var families: [String: Family] = [:]

    /// An empty exposition.
    init() {}

    /// Parses one page.
    /// - Parameters:
    ///   - text: the page.
    ///   - worker: when set, `worker="<worker>"` is added to every sample (a label `worker` the sample already has
    ///     is renamed `exported_worker`, as Prometheus does on a label clash).
    init(parsing text: String, worker: String? = nil) {
        var current: String?
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine[...]
            if line.hasPrefix("#") {
                let words = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
                guard words.count >= 3, words[0] == "#", words[1] == "TYPE" || words[1] == "HELP" else { continue }
                let name = String(words[2])
                let rest = words.count > 3 ? String(words[3]) : ""
                var family = families[name] ?? Family(name: name, samples: [])
                if words[1] == "TYPE" {
                    if family.type == nil { family.type = rest }
                } else if family.help == nil {
                    family.help = rest
                }
                families[name] = family
                current = name
                continue
            }
            guard var sample = Self.parseSample(line) else { continue }
            if let worker {
                for index in sample.labels.indices where sample.labels[index].name == "worker" {
                    sample.labels[index].name = "exported_worker"
                }
                sample.labels.insert(("worker", Self.escape(worker)), at: 0)
            }
            let familyName: String
            if let current, Self.sample(sample.name, belongsTo: current) {
                familyName = current
            } else {
                familyName = sample.name
                current = nil
            }
            families[familyName, default: Family(name: familyName, samples: [])].samples.append(sample)
        }
    }

    /// Adds another page's families: samples are appended to the family of the same name; a family whose type
    /// differs from the one already here keeps its first type, and the other page's samples of it are dropped
    /// (one family cannot have two types in a valid page).
    mutating func merge(_ other: PrometheusExposition) {
        for (name, family) in other.families {
            guard var mine = families[name] else {
                families[name] = family
                continue
            }
            if let theirs = family.type, let type = mine.type, theirs != type { continue }
            mine.type = mine.type ?? family.type
            mine.help = mine.help ?? family.help
            mine.samples.append(contentsOf: family.samples)
            families[name] = mine
        }
    }

    /// Adds a gauge family made here (not parsed), replacing one of the same name.
    mutating func setGauge(_ name: String, samples: [(labels: [(name: String, value: String)], value: Double)]) {
        families[name] = Family(
            name: name, type: "gauge", help: nil,
            samples: samples.map {
                Sample(
                    name: name, labels: $0.labels.map { ($0.name, Self.escape($0.value)) },
                    value: Self.format($0.value))
            })
    }

    /// The `worker` label values of the samples (as written, escaped).
    var workers: Set<String> {
        var names: Set<String> = []
        for family in families.values {
            for sample in family.samples { if let worker = sample.label("worker") { names.insert(worker) } }
        }
        return names
    }

    /// The page: families sorted by name, each with its `# HELP` (when known), `# TYPE` (when known) and samples.
    func render() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(families.values.reduce(0) { $0 + 64 + $1.samples.count * 96 })
        for name in families.keys.sorted() {
            guard let family = families[name], !family.samples.isEmpty else { continue }
            if let help = family.help {
                out.append(contentsOf: "# HELP \(name) \(help)\n".utf8)
            }
            if let type = family.type {
                out.append(contentsOf: "# TYPE \(name) \(type)\n".utf8)
            }
            for sample in family.samples {
                out.append(contentsOf: sample.name.utf8)
                if !sample.labels.isEmpty {
                    out.append(UInt8(ascii: "{"))
                    for (index, label) in sample.labels.enumerated() {
                        if index > 0 { out.append(UInt8(ascii: ",")) }
                        out.append(contentsOf: label.name.utf8)
                        out.append(contentsOf: "=\"".utf8)
                        out.append(contentsOf: label.value.utf8)
                        out.append(UInt8(ascii: "\""))
                    }
                    out.append(UInt8(ascii: "}"))
                }
                out.append(UInt8(ascii: " "))
                out.append(contentsOf: sample.value.utf8)
                out.append(UInt8(ascii: "\n"))
            }
        }
        return out
    }

    // MARK: Parsing

    /// Whether a sample named `sample` is part of the family `family` (a histogram's or summary's series carry
    /// suffixes).
    static func sample(_ sample: String, belongsTo family: String) -> Bool {
        guard sample.hasPrefix(family) else { return false }
        let suffix = sample.dropFirst(family.count)
        return suffix.isEmpty || ["_bucket", "_sum", "_count", "_total", "_created"].contains(String(suffix))
    }

    /// One sample line, or nil when it is malformed.
    static func parseSample(_ line: Substring) -> Sample? {
        let bytes = Array(line.utf8)
        var index = 0
        func isNameByte(_ byte: UInt8, first: Bool) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"),
                UInt8(ascii: ":"):
                return true
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                return !first
            default:
                return false
            }
        }
        while index < bytes.count, isNameByte(bytes[index], first: index == 0) { index += 1 }
        guard index > 0 else { return nil }
        let name = String(decoding: bytes[0..<index], as: UTF8.self)
        var labels: [(name: String, value: String)] = []
        if index < bytes.count, bytes[index] == UInt8(ascii: "{") {
            index += 1
            while true {
                while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    break
                }
                let start = index
                while index < bytes.count, isNameByte(bytes[index], first: index == start),
                    bytes[index] != UInt8(ascii: ":")
                {
                    index += 1
                }
                guard index > start, index + 1 < bytes.count, bytes[index] == UInt8(ascii: "="),
                    bytes[index + 1] == UInt8(ascii: "\"")
                else { return nil }
                let labelName = String(decoding: bytes[start..<index], as: UTF8.self)
                index += 2
                let valueStart = index
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                guard index < bytes.count else { return nil }
                labels.append((labelName, String(decoding: bytes[valueStart..<index], as: UTF8.self)))
                index += 1
                while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
                if index < bytes.count, bytes[index] == UInt8(ascii: ",") { index += 1 }
            }
        }
        guard index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") else {
            return nil
        }
        let value = String(decoding: bytes[index...], as: UTF8.self).trimmed(of: " \t")
        // A number (Go's float syntax: +Inf, -Inf, NaN included), optionally followed by an integer timestamp.
        let parts = value.split(separator: " ", omittingEmptySubsequences: true)
        guard (1...2).contains(parts.count), isNumber(parts[0]), parts.count == 1 || Int64(parts[1]) != nil else {
            return nil
        }
        return Sample(name: name, labels: labels, value: value)
    }

    /// Whether `text` is a sample value of the text format.
    static func isNumber(_ text: Substring) -> Bool {
        if ["+Inf", "-Inf", "Inf", "NaN", "+inf", "-inf", "nan"].contains(text) { return true }
        return Double(text) != nil
    }

    /// A label value escaped for the text format (backslash, double quote, line feed).
    static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for character in value.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// A sample value as Prometheus writes it (`+Inf`, `NaN`, else Swift's shortest round-trip form).
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return "\(value)"
    }
}

extension StringProtocol {
    fileprivate func trimmed(of set: String) -> String {
        var slice = self[...]
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}

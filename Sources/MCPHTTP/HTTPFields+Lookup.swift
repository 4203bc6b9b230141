import HTTPTypes

extension HTTPFields {
    /// The value `self[name]` gives (every field of that name, combined), without building a joined string
    /// when the name appears at most once — nearly always. `HTTPFields`' own getter always goes through
    /// `joined(separator:)`, an allocation per lookup on the request path.
    /// - Parameter name: the field name.
    package func value(_ name: HTTPField.Name) -> String? {
        var found: String?
        for field in self where field.name == name {
            // A repeated field: combined exactly as the subscript does (", ", or "; " for cookies).
            guard found == nil else { return self[name] }
            found = field.value
        }
        return found
    }
}

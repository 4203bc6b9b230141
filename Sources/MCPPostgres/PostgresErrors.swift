import PostgresNIO

/// Readable descriptions of postgres-nio's errors (whose `description` hides details by design).
enum PostgresErrors {
    /// What went wrong: the server's message and SQLSTATE when it sent one, else the client-side error code.
    static func describe(_ error: any Error) -> String {
        if let transaction = error as? PostgresTransactionError {
            return describe(transaction.closureError ?? transaction.beginError ?? transaction.commitError ?? error)
        }
        guard let error = error as? PSQLError else { return String(describing: error) }
        if let message = error.serverInfo?[.message] {
            return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
        }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }
}

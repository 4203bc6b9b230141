extension URITemplate {
    /// The template compiled to a nondeterministic automaton over the URI's bytes, run by keeping the set of live
    /// states in priority order (a Pike VM): one pass over the URI, each state advanced at most once per byte, so
    /// the time is linear in the URI's length for a given template. See ``URITemplate`` for the semantics.
    ///
    /// Layout: the states of the parts follow each other, and the state after a part's last one is the entry of
    /// the next part (the state after the last part is the accepting end).
    /// - a literal of m bytes: m states, the j-th expecting the literal's j-th byte;
    /// - a single-variable expression: "nothing read yet" and "one or more characters read";
    /// - an expression of v variables: 2·(v+1) states (pieces started 0…v) × (inside a piece or not), so that
    ///   the value is split into at most v non-empty pieces at `,`.
    ///
    /// A thread records where each expression it went through ended (the start of an expression follows from
    /// the end of the one before and the literal bytes between them). Leaving an expression is an ε-move that
    /// ranks below reading one more character, and a state already reached at this position by a thread of
    /// higher rank is not entered again: the surviving thread is the one a longest-first backtracking search
    /// would have found first, so the captures are the same, without the exponential search.
    struct Automaton: Sendable, Hashable {
        enum State: Sendable, Hashable {
            /// Expects this byte.
            case literal(UInt8)
            /// Inside expression `ordinal` (states `base..<exit`); `pieces` started, `inPiece` whether the last
            /// character read was part of a piece (always `pieces > 0` then); `maxPieces` 0: a single variable,
            /// commas are ordinary characters.
            case expression(ordinal: Int, base: Int, exit: Int, pieces: Int, inPiece: Bool, maxPieces: Int)
            /// The whole template was matched.
            case end
        }

        private(set) var states: [State] = []
        /// The number of expressions.
        private(set) var expressionCount = 0

        init(_ parts: [Part]) {
            for part in parts {
                switch part {
                case .literal(let bytes):
                    states += bytes.map(State.literal)
                case .expression(let names):
                    let base = states.count
                    let ordinal = expressionCount
                    expressionCount += 1
                    if names.count == 1 {
                        states.append(
                            .expression(
                                ordinal: ordinal, base: base, exit: base + 2, pieces: 0, inPiece: false, maxPieces: 0))
                        states.append(
                            .expression(
                                ordinal: ordinal, base: base, exit: base + 2, pieces: 1, inPiece: true, maxPieces: 0))
                    } else {
                        let exit = base + 2 * (names.count + 1)
                        for pieces in 0...names.count {
                            for inPiece in [false, true] {
                                states.append(
                                    .expression(
                                        ordinal: ordinal, base: base, exit: exit, pieces: pieces, inPiece: inPiece,
                                        maxPieces: names.count))
                            }
                        }
                    }
                }
            }
            states.append(.end)
        }

        /// The state reached from `state` by reading `byte`, or nil.
        private func next(_ state: Int, _ byte: UInt8) -> Int? {
            switch states[state] {
            case .literal(let expected):
                return byte == expected ? state + 1 : nil
            case .expression(_, let base, _, let pieces, let inPiece, let maxPieces):
                if URITemplate.isDelimiter(byte) { return nil }
                if maxPieces == 0 { return base + 1 }
                if byte == UInt8(ascii: ",") { return base + 2 * pieces }
                if inPiece { return state }
                return pieces < maxPieces ? base + 2 * (pieces + 1) + 1 : nil
            case .end:
                return nil
            }
        }

        private struct Thread {
            var state: Int
            /// Where each expression passed so far ended (byte offsets into the URI).
            var ends: [Int]
        }

        /// The live threads at one position, in priority order, with at most one thread per state.
        private struct ThreadList {
            var threads: [Thread] = []
            /// `generation` of the position where a state was last entered.
            var entered: [Int]
            var generation = 0

            init(stateCount: Int) { entered = Array(repeating: -1, count: stateCount) }

            mutating func reset(generation: Int) {
                threads.removeAll(keepingCapacity: true)
                self.generation = generation
            }
        }

        /// Enters `state` at `position` (and, from an accepting expression state, the next part's entry with
        /// lower priority), unless a thread of higher priority entered it at this position already.
        private func enter(_ state: Int, at position: Int, ends: [Int], into list: inout ThreadList, steps: inout Int) {
            guard list.entered[state] != list.generation else { return }
            list.entered[state] = list.generation
            steps += 1
            list.threads.append(Thread(state: state, ends: ends))
            if case .expression(let ordinal, _, let exit, let pieces, _, _) = states[state], pieces > 0 {
                var ends = ends
                ends[ordinal] = position
                enter(exit, at: position, ends: ends, into: &list, steps: &steps)
            }
        }

        /// Runs the automaton over the whole URI.
        /// - Parameters:
        ///   - uri: the URI's bytes.
        ///   - steps: incremented once per state entered or advanced.
        /// - Returns: the end offset of each expression's value for the highest-priority match, or nil when the
        ///   URI does not match.
        func run(_ uri: [UInt8], steps: inout Int) -> [Int]? {
            var current = ThreadList(stateCount: states.count)
            var following = ThreadList(stateCount: states.count)
            current.reset(generation: 0)
            enter(0, at: 0, ends: Array(repeating: 0, count: expressionCount), into: &current, steps: &steps)
            for (offset, byte) in uri.enumerated() {
                following.reset(generation: offset + 1)
                for thread in current.threads {
                    steps += 1
                    if let state = next(thread.state, byte) {
                        enter(state, at: offset + 1, ends: thread.ends, into: &following, steps: &steps)
                    }
                }
                swap(&current, &following)
                if current.threads.isEmpty { return nil }
            }
            let end = states.count - 1
            return current.threads.first { $0.state == end }?.ends
        }
    }
}

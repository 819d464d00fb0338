import Logging
import Synchronization

/// What the server's log has said about the hash chain and the integrity rules, shared by every
/// path that verifies (`ChainWatch`'s background check, a request's `ChainStatus.verdict`), so
/// that whichever first learns of a break logs it, at once and at error level, and none says
/// it again while it stays the same. It used to be `ChainWatch`'s alone: a break a request
/// found was on `/readyz`, `/metrics` and the dashboard at once, but logged only by the next
/// background check, up to ten minutes later.
final class ChainReport: Sendable {
    /// The lines last logged (nil: all is well, or nothing said yet).
    struct Said: Sendable, Equatable {
        /// About the chain: a break, or a log that could not be read.
        var chain: String?
        /// About integrity rules removed from the file.
        var rules: String?
    }

    private let state = Mutex(Said())

    /// What was last said.
    var said: Said { state.withLock { $0 } }

    /// Logs what `found` says when it differs from what was last said (and, at warning level,
    /// that all is well again); returns what is said now. A log not yet checked says nothing
    /// new; one that could not be read says nothing new about the rules.
    @discardableResult
    func say(_ found: ChainStatus.Latest, logger: Logger) -> Said {
        // `rulesNow` nil: nothing new about the rules (the log could not be read).
        let chainNow: String?, rulesNow: String??
        switch found {
        case .unchecked: return said
        case .verdict(let v):
            chainNow = v.brokenAt.map { "the log's hash chain does not verify at seq \($0): \(v.problem ?? ""); serve goes on answering and recording, but the history from there on cannot be trusted: run jobledger verify on the log, and restore it from a backup or an export" }
            let rules: String? = v.removedRules.isEmpty ? nil : "the log's integrity rules were removed behind its back: \(v.removedRules.joined(separator: ", ")); "
                + "the database no longer refuses changes they refused, so edits to recorded events would show only in the hash chain; serve goes on answering and recording: "
                + "run jobledger verify on the log, and restore it from a backup or an export"
            rulesNow = .some(rules)
        case .unreadable(let error):
            chainNow = "the log's hash chain could not be verified: \(error); serve goes on answering and recording: run jobledger verify on the log"
            rulesNow = nil
        }
        // Compared and logged under the lock: two paths finding the same break at once log it once.
        return state.withLock { s in
            if let chainNow, chainNow != s.chain {
                logger.error("\(chainNow)")
            } else if chainNow == nil, s.chain != nil {
                logger.warning("the log's hash chain verifies again")
            }
            if let rulesNow {
                if let rulesNow, rulesNow != s.rules {
                    logger.error("\(rulesNow)")
                } else if rulesNow == nil, s.rules != nil {
                    logger.warning("the log's integrity rules are all in place again")
                }
                s.rules = rulesNow
            }
            s.chain = chainNow
            return s
        }
    }
}

import Foundation

/// Every `JOBLEDGER_*` variable JobLedger reads, in one place: a variable with that prefix that
/// is not listed is misspelt (or from another version), and would be ignored without a word, so
/// `work`, `serve`, `project` and `demo` warn about it when they start (`unknownWarnings`).
/// `Tests/CLITests/KnownEnvironmentTests.swift` checks that this list holds every name the
/// sources read, so add a new variable here when you read it.
enum KnownEnvironment {
    /// The variables the commands and the libraries read (`.env.example` explains each one).
    static let read: [String] = [
        "JOBLEDGER_DB",
        "JOBLEDGER_LOG_LEVEL",
        "JOBLEDGER_LOG_FORMAT",
        "JOBLEDGER_PROGRESS",
        "JOBLEDGER_MAX_PAGE_COUNT",
        // jobledger serve: authentication and the submit limit (JobLedgerServer).
        "JOBLEDGER_AUTH_HS256_SECRET",
        "JOBLEDGER_AUTH_JWKS",
        "JOBLEDGER_AUTH_ISSUER",
        "JOBLEDGER_AUTH_AUDIENCE",
        "JOBLEDGER_AUTH_AUTHORIZED_PARTIES",
        "JOBLEDGER_AUTH_ADMIN_CLAIM",
        "JOBLEDGER_AUTH_ADMIN_VALUE",
        "JOBLEDGER_AUTH_LEEWAY_SECONDS",
        "JOBLEDGER_RATE_LIMIT",
        // AnyCable (JobLedgerAnyCable).
        "JOBLEDGER_ANYCABLE_BATCH_SIZE",
        "JOBLEDGER_ANYCABLE_LINGER_MS",
        "JOBLEDGER_ANYCABLE_TIMEOUT_MS",
        // Upstash (JobLedgerUpstash).
        "JOBLEDGER_UPSTASH_STREAM",
        "JOBLEDGER_UPSTASH_GROUP",
        "JOBLEDGER_UPSTASH_CONSUMER",
        "JOBLEDGER_UPSTASH_BATCH_SIZE",
        "JOBLEDGER_UPSTASH_CLAIM_IDLE_MS",
        "JOBLEDGER_UPSTASH_TIMEOUT_MS",
        "JOBLEDGER_UPSTASH_STATUS_TTL_S",
        // Vercel Blob (JobLedgerVercelBlob).
        "JOBLEDGER_VERCEL_BLOB_ACCESS",
        "JOBLEDGER_VERCEL_BLOB_CACHE_MAX_AGE",
        "JOBLEDGER_VERCEL_BLOB_TIMEOUT_MS",
        "JOBLEDGER_VERCEL_BLOB_RETRIES",
        "JOBLEDGER_VERCEL_BLOB_MULTIPART_MIN_BYTES",
        "JOBLEDGER_VERCEL_BLOB_PART_BYTES",
        "JOBLEDGER_VERCEL_BLOB_PART_CONCURRENCY",
    ]

    /// Variables of the test suite and its scripts, which the binary never reads but which are
    /// set where it runs under `swift test` (never warned about, never suggested).
    static let testsOnly: [String] = [
        "JOBLEDGER_BIN",
        "JOBLEDGER_UNDER_TEST",
        "JOBLEDGER_RECORD_GOLDENS",
        "JOBLEDGER_RECORD_FIXTURES",
        "JOBLEDGER_SDK_VENV",
        "JOBLEDGER_UPSTASH_VENV",
        "JOBLEDGER_SCREENSHOTS",
        "JOBLEDGER_FUZZ_EXAMPLES",
    ]

    static let prefix = "JOBLEDGER_"

    /// One warning per `JOBLEDGER_*` variable of `environment` that is neither read nor a test
    /// variable, sorted by name, with the known name it is closest to when one is close enough
    /// to be a misspelling. Only names are said: a value may be a secret.
    static func unknownWarnings(in environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        let known = Set(read + testsOnly)
        return environment.keys.filter { $0.hasPrefix(prefix) && !known.contains($0) }.sorted().map { name in
            let shown = terminalSafe(name)
            let hint = suggestion(for: name).map { "; did you mean \($0.joined(separator: " or "))?" }
                ?? " (.env.example lists those it reads)"
            return "jobledger: warning: ignoring \(shown): jobledger reads no such variable\(hint)"
        }
    }

    /// The read names closest to `name` when they are at most `maxDistance` edits away (a
    /// letter added, dropped, changed, or two swapped), else nil. Several when they tie.
    static func suggestion(for name: String, maxDistance: Int = 2) -> [String]? {
        let scored = read.map { ($0, editDistance(name, $0)) }.filter { $0.1 <= maxDistance }
        guard let best = scored.map(\.1).min() else { return nil }
        return scored.filter { $0.1 == best }.map(\.0)
    }

    /// The optimal string alignment distance of `a` and `b`: insertions, deletions,
    /// substitutions and transpositions of adjacent characters, each counting 1.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }

    /// Says each warning of `unknownWarnings` on stderr: what `work`, `serve`, `project` and
    /// `demo` do first.
    static func warnAboutUnknown() {
        for line in unknownWarnings() { printErr(line) }
    }
}

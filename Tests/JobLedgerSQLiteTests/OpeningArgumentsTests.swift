import Foundation
import JobLedger
import JobLedgerSQLite
import Testing

/// `Ledger.open` and `openReadOnly` refuse what no log can be opened with, naming it, before
/// the file is touched: an empty path gave "storage error: could not activate WAL Mode at
/// path: ", a `maxPayloadBytes` of 0 or -1 opened fine and then refused every append ("over
/// the limit of -1 bytes"), and a negative busy timeout was taken as it came.
@Suite struct OpeningArgumentsTests {
    @Test func anEmptyPathIsRefusedNamingIt() {
        #expect(throws: LedgerError.invalidConfiguration(field: "path", reason: "is empty; give the path of the log file, such as \"jobs.sqlite\"")) {
            try Ledger.open(path: "")
        }
        #expect(throws: LedgerError.invalidConfiguration(field: "path", reason: "is empty; give the path of the log file, such as \"jobs.sqlite\"")) {
            try Ledger.openReadOnly(path: "")
        }
        #expect(LedgerError.invalidConfiguration(field: "path", reason: "is empty").description == "cannot open a log: 'path' is empty")
    }

    @Test func aPayloadLimitOutOfRangeIsRefusedAndNoFileIsMade() {
        let dir = TempDir()
        let path = dir.path("jobs.sqlite")
        for limit in [0, -1, 16 * 1024 * 1024 + 1] {
            #expect(throws: LedgerError.invalidConfiguration(field: "maxPayloadBytes", reason: "must be in 1…16777216 bytes, got \(limit)")) {
                try Ledger.open(path: path, configuration: config(maxPayload: limit))
            }
        }
        #expect(!FileManager.default.fileExists(atPath: path), "a refused configuration creates nothing")
        #expect(LedgerError.invalidConfiguration(field: "maxPayloadBytes", reason: "must be in 1…16777216 bytes, got 0").description
                == "cannot open a log: LedgerConfiguration.maxPayloadBytes must be in 1…16777216 bytes, got 0")
    }

    @Test func aBusyTimeoutOutOfRangeIsRefused() throws {
        let dir = TempDir()
        let path = dir.path("jobs.sqlite")
        #expect(throws: LedgerError.invalidConfiguration(field: "busyTimeout", reason: "must be in 0…3600 seconds, got -1.0 seconds")) {
            try Ledger.open(path: path, configuration: config(busy: .seconds(-1)))
        }
        #expect(throws: LedgerError.self) { try Ledger.open(path: path, configuration: config(busy: .seconds(3601))) }
        // The edges of each range open, and a read-only opening checks the same.
        _ = try Ledger.open(path: path, configuration: config(maxPayload: 1, busy: .zero))
        _ = try Ledger.open(path: path, configuration: config(maxPayload: 16 * 1024 * 1024, busy: .seconds(3600)))
        #expect(throws: LedgerError.invalidConfiguration(field: "maxPayloadBytes", reason: "must be in 1…16777216 bytes, got 0")) {
            try Ledger.openReadOnly(path: path, configuration: config(maxPayload: 0))
        }
    }

    @Test func aPageLimitOutOfRangeIsRefused() {
        var c = LedgerConfiguration()
        c.maxPageCount = 0
        #expect(throws: LedgerError.invalidConfiguration(field: "maxPageCount", reason: "must be in 1…4294967294 pages (nil: no limit), got 0")) {
            try c.validate()
        }
        c.maxPageCount = nil
        #expect(throws: Never.self) { try c.validate() }
    }
}

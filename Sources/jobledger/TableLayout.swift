import Foundation

/// Aligned columns, measured before they are printed: each column but the last is as wide as its
/// widest cell, cells two spaces apart; every cell is made `terminalSafe`. Measured row by row,
/// so that a long listing (`jobs`) can measure in one pass and print in a second, holding one
/// row at a time, not all of them.
struct TableLayout {
    let columns: Int
    let indent: String
    private(set) var widths: [Int]

    init(columns: Int, indent: String = "") {
        self.columns = columns
        self.indent = indent
        widths = [Int](repeating: 0, count: columns)
    }

    /// Widens the columns to fit `row`.
    mutating func measure(_ row: [String]) {
        for (i, c) in row.enumerated() where i < columns - 1 { widths[i] = max(widths[i], terminalSafe(c).count) }
    }

    /// `row` as one line (without the line feed), padded to the widths measured.
    func line(_ row: [String]) -> String {
        var line = indent
        for (i, c) in row.enumerated() {
            let safe = terminalSafe(c)
            line += i == row.count - 1 ? safe : safe.padding(toLength: widths[i], withPad: " ", startingAt: 0) + "  "
        }
        return line
    }
}

/// Rows in aligned columns; every cell made `terminalSafe`.
func printTable(header: [String]?, rows: [[String]], indent: String = "") {
    let all = (header.map { [$0] } ?? []) + rows
    guard let columns = all.map(\.count).max() else { return }
    var layout = TableLayout(columns: columns, indent: indent)
    for r in all { layout.measure(r) }
    for r in all { print(layout.line(r)) }
}

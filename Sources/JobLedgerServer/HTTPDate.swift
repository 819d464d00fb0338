import Foundation

/// HTTP dates (RFC 9110 § 5.6.7): the preferred IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`)
/// and the obsolete RFC 850 and asctime forms a recipient must also read, as whole seconds since
/// 1970. Hummingbird's own parser is internal to it.
enum HTTPDate {
    private static let formats = ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"]

    /// Seconds since 1970 of `text`, or nil when it is not an HTTP date.
    static func seconds(_ text: String) -> Int64? {
        // asctime pads a one-digit day with a space ("Sun Nov  6 08:49:37 1994").
        let single = text.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        for format in formats {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "GMT")
            f.dateFormat = format
            if let date = f.date(from: single) { return Int64(date.timeIntervalSince1970.rounded(.down)) }
        }
        return nil
    }
}

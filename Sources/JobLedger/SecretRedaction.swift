/// Hides a secret in text that a server sent back (an error message, a `Location`), for the
/// plugins that put such text in their errors: every whole occurrence of `secret`, and every run
/// of at least `minimumPiece` characters that also occurs in it (a server that quotes only part
/// of a token, or a prefix of it cut short), become `<redacted>`.
///
/// A secret shorter than `minimumPiece` is hidden only where it occurs whole. A run of eight
/// characters of a random token does not turn up in ordinary words by chance, so nothing else
/// is hidden. Only the first `limit` characters of `text` are looked at and kept (the callers
/// show a few hundred at most).
package func redactingSecret(_ secret: String, in text: String, minimumPiece: Int = 8, limit: Int = 4000) -> String {
    let x = Array(text.unicodeScalars.prefix(limit))
    let s = Array(secret.unicodeScalars)
    guard !s.isEmpty, !x.isEmpty else { return String(String.UnicodeScalarView(x)) }
    let piece = s.count < minimumPiece ? s.count : minimumPiece
    // longest[i]: the longest run of `secret` that ends at x[i] (longest common suffix, row by row).
    var longest = [Int](repeating: 0, count: x.count)
    var previous = [Int](repeating: 0, count: s.count + 1), current = previous
    for i in x.indices {
        var best = 0
        for j in 1...s.count {
            let run = x[i] == s[j - 1] ? previous[j - 1] + 1 : 0
            current[j] = run
            if run > best { best = run }
        }
        longest[i] = best
        swap(&previous, &current)
    }
    var hidden = [Bool](repeating: false, count: x.count)
    for i in x.indices where longest[i] >= piece {
        for k in (i + 1 - longest[i])...i { hidden[k] = true }
    }
    var out = String.UnicodeScalarView()
    var i = 0
    while i < x.count {
        if hidden[i] {
            out.append(contentsOf: "<redacted>".unicodeScalars)
            while i < x.count && hidden[i] { i += 1 }
        } else {
            out.append(x[i])
            i += 1
        }
    }
    return String(out)
}

/// Writes a JSON object whose keys the caller gives in sorted order.
struct PayloadCanonicalWriter {
    var out: [UInt8] = {
        var b: [UInt8] = []
        b.reserveCapacity(160)  // one allocation (an array literal first would make two)
        b.append(UInt8(ascii: "{"))
        return b
    }()
    var first = true

    mutating func key(_ k: StaticString) {
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        out.append(UInt8(ascii: "\""))
        k.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
    }

    mutating func string(_ k: StaticString, _ v: String) { key(k); JSONValue.writeString(v, to: &out) }
    mutating func int(_ k: StaticString, _ v: Int) { key(k); JSONValue.writeInt(Int64(v), to: &out) }
    mutating func value(_ k: StaticString, _ v: JSONValue) { key(k); v.write(to: &out) }
    mutating func finish() -> [UInt8] { out.append(UInt8(ascii: "}")); return out }
}

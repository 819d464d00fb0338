import JobLedger
import NIOCore
import Synchronization

/// The SSE event of each recent broadcast message, as bytes, made once however many streams
/// send it: a thousand subscribers of one job get the same buffer (a `ByteBuffer` is shared,
/// not copied) instead of a thousand strings built alike. Keyed by stream and seq; the oldest
/// entries are dropped past `capacity`.
final class RenderedEvents: Sendable {
    private struct Key: Hashable { let stream: String; let seq: Int64 }
    private struct Cache {
        var bytes: [Key: ByteBuffer] = [:]
        var order: [Key] = []
        var head = 0
    }
    private let cache = Mutex(Cache())
    let capacity: Int

    init(capacity: Int = 1024) { self.capacity = capacity }

    /// The bytes of `publication`'s event, made by `render` the first time.
    func event(for publication: Publication, render: () -> String) -> ByteBuffer {
        let key = Key(stream: publication.stream, seq: publication.message.seq)
        if let hit = cache.withLock({ $0.bytes[key] }) { return hit }
        let made = ByteBuffer(string: render())
        cache.withLock { c in
            guard c.bytes.updateValue(made, forKey: key) == nil else { return }
            if c.order.count < capacity {
                c.order.append(key)
            } else {
                c.bytes[c.order[c.head]] = nil
                c.order[c.head] = key
                c.head = (c.head + 1) % capacity
            }
        }
        return made
    }

    /// Entries held (for tests).
    var count: Int { cache.withLock { $0.bytes.count } }
}

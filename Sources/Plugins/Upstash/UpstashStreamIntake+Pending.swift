import Foundation

extension UpstashStreamIntake {
    /// The group's pending entries (delivered, not acknowledged) held by consumers other than
    /// this one, by consumer (`XPENDING <stream> <group>`): a worker running beside this one
    /// holds some until its next read; one that stopped holds them until another takes them
    /// over (`Options.claimIdle`). Empty when there are none, or no group.
    public func pendingWithOtherConsumers() async throws -> [String: Int] {
        let reply = try await redis.send(["XPENDING", options.stream, options.group], idempotent: true)
        guard let parts = reply.array, parts.count == 4, let consumers = parts[3].array else { return [:] }
        var out: [String: Int] = [:]
        for c in consumers {
            guard let pair = c.array, pair.count == 2, let name = pair[0].string, name != options.consumer,
                  let n = pair[1].int, n > 0 else { continue }
            out[name] = Int(n)
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// RLIMIT_NOFILE: every simulated agent holds up to two connections in the harness, and the server under
/// test holds their other ends. The limit is raised here, before any server starts, so that the children
/// inherit it.
enum FileLimit {
    /// Raises the soft limit to at least `wanted` (and the hard one too when allowed, e.g. as root);
    /// returns the soft limit in effect.
    @discardableResult
    static func raise(to wanted: Int) -> Int {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return 0 }
        let target = rlim_t(wanted)
        if limit.rlim_cur >= target { return Int(limit.rlim_cur) }
        if limit.rlim_max < target {
            var higher = limit
            higher.rlim_max = target
            higher.rlim_cur = target
            if setrlimit(resource, &higher) == 0 { return wanted }
        }
        limit.rlim_cur = min(target, limit.rlim_max)
        _ = setrlimit(resource, &limit)
        var now = rlimit()
        _ = getrlimit(resource, &now)
        return Int(now.rlim_cur)
    }
}

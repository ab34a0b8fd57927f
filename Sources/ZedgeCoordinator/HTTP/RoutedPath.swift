import Hummingbird

/// The path a request is routed by, for decisions taken by path outside the router (which requests are audited,
/// which credentials a path takes, which requests are long-polls). Hummingbird's router skips empty segments, so
/// `//api/v1/tenants` and `/api/v1/tenants/` route as `/api/v1/tenants`; a check of the raw path's prefix would let
/// such a spelling reach the route without its audit row or with the other kind of credential.
enum RoutedPath {
    /// The matched route's pattern (`/api/v1/users/{id}`), else the request's path made canonical.
    static func of(_ request: Request, _ context: ZedgeRequestContext) -> String {
        context.endpointPath ?? canonical(request.uri.path)
    }

    /// `path` without repeated slashes and without a trailing one (`/` stays `/`); `path` itself, not copied, when
    /// it already is canonical (the usual case: this runs on every request).
    static func canonical(_ path: String) -> String {
        let utf8 = path.utf8
        var previousSlash = false
        var canonical = true
        for byte in utf8 {
            let slash = byte == UInt8(ascii: "/")
            if slash && previousSlash { canonical = false; break }
            previousSlash = slash
        }
        if canonical && !(previousSlash && utf8.count > 1) { return path }
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return "/" + segments.joined(separator: "/")
    }
}

import Foundation
import Hummingbird
import ZedgeCore

/// Serves an image version's file for `GET` and `HEAD`: users' downloads and agents' fetches share it.
///
/// Answers `Accept-Ranges: bytes`, `ETag: "<sha256>"`, `Content-Length`, `Content-Type:
/// application/octet-stream`. One `Range: bytes=a-b`, `a-` or `-n` → 206 with `Content-Range`; a range that
/// starts past the end → 416 with `Content-Range: bytes */<size>`; several ranges, a malformed header or an
/// `If-Range` that is not the ETag → the whole file (200), as RFC 9110 allows. `If-None-Match` naming the ETag
/// → 304. `HEAD` answers the same headers without the bytes. The bytes stream from `read` in chunks.
public enum ImageFileResponse {
    /// Reads bytes `range` (inclusive offsets) of the file and hands them to the writer, in chunks.
    public typealias Reader = @Sendable (ClosedRange<Int64>, (ByteBuffer) async throws -> Void) async throws -> Void

    /// The answer for `request` about `version`'s file (`version.hasFile` must hold).
    public static func make(_ request: Request, version: ImageVersion, read: @escaping Reader) throws -> Response {
        guard let sha256 = version.checksumSha256, let size = version.sizeBytes else { throw Problem.notFound("Image file") }
        return make(request, sha256: sha256, size: size, read: read)
    }

    /// The answer for `request` about a file of `size` bytes whose SHA-256 is `sha256`.
    public static func make(_ request: Request, sha256: String, size: Int64, read: @escaping Reader) -> Response {
        let etag = "\"\(sha256)\""
        var headers: HTTPFields = [.acceptRanges: "bytes", .eTag: etag, .contentType: "application/octet-stream"]
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: {
            let tag = $0.trimmingCharacters(in: .whitespaces)
            return tag == etag || tag == "*" || tag == "W/\(etag)"
        }) {
            return Response(status: .notModified, headers: headers)
        }
        var range: ClosedRange<Int64>? = nil
        if let header = request.headers[.range], request.headers[.ifRange].map({ $0 == etag }) ?? true {
            switch parse(header, size: size) {
            case .whole: break
            case .part(let part): range = part
            case .unsatisfiable:
                headers[.contentRange] = "bytes */\(size)"
                headers[.contentLength] = "0"
                return Response(status: .rangeNotSatisfiable, headers: headers)
            }
        }
        let served = range ?? 0...(size - 1)
        let length = size == 0 ? 0 : served.upperBound - served.lowerBound + 1
        if let range { headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)" }
        headers[.contentLength] = String(length)
        let status: HTTPResponse.Status = range == nil ? .ok : .partialContent
        guard request.method != .head, length > 0 else { return Response(status: status, headers: headers) }
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: Int(length)) { writer in
            try await read(served) { chunk in try await writer.write(chunk) }
            try await writer.finish(nil)
        })
    }

    /// What a `Range` header asks of a file of `size` bytes.
    enum RangeRequest: Equatable {
        /// No usable single range: serve the whole file.
        case whole
        case part(ClosedRange<Int64>)
        case unsatisfiable
    }

    static func parse(_ header: String, size: Int64) -> RangeRequest {
        let text = header.trimmingCharacters(in: .whitespaces)
        guard text.lowercased().hasPrefix("bytes="), !text.contains(",") else { return .whole }
        let spec = text.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        let digits = { (s: String) in !s.isEmpty && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        if first.isEmpty {
            // A suffix: the last n bytes.
            guard digits(last), let n = Int64(last) else { return .whole }
            guard n > 0, size > 0 else { return .unsatisfiable }
            return .part(max(0, size - n)...(size - 1))
        }
        guard digits(first), let start = Int64(first) else { return .whole }
        var end = size - 1
        if !last.isEmpty {
            guard digits(last), let value = Int64(last), value >= start else { return .whole }
            end = min(value, size - 1)
        }
        guard start < size else { return .unsatisfiable }
        return .part(start...end)
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `FileManager` error as one readable line, e.g. `Permission denied (/var/lib/zedge-agent/images)`.
/// FoundationEssentials' `CocoaError` has no `localizedDescription` and prints as a struct dump, so the text of
/// the underlying errno (`strerror`) and the path it names are used; any other error prints as itself.
enum FileErrorText {
    static func describe(_ error: any Error) -> String {
        guard let cocoa = error as? CocoaError else { return "\(error)" }
        var text = (cocoa.underlying as? POSIXError).map { String(cString: strerror($0.code.rawValue)) } ?? "file error \(cocoa.code.rawValue)"
        if let path = cocoa.filePath { text += " (\(path))" }
        return text
    }
}

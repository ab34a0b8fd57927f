import Foundation

/// A file zedgectl reads for the user (`-f FILE`, `--user-data-file FILE`).
enum LocalFile {
    /// The file's bytes. Throws `CLIError.usage` naming the file and why it could not be read (no such file,
    /// permission denied, a directory, …: the system's own reason, from errno).
    static func read(_ path: String) throws -> Data {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw CLIError.usage("cannot read \(path): \(String(cString: strerror(errno)))") }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            return try handle.readToEnd() ?? Data()
        } catch {
            // read(2) on a directory fails with EISDIR; Foundation wraps errno in a Cocoa error.
            throw CLIError.usage("cannot read \(path): \(reason(error))")
        }
    }

    /// The system's words for a read's error: its errno (Foundation's POSIX error, alone or under a Cocoa error).
    private static func reason(_ error: any Error) -> String {
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        if let underlying, underlying.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(underlying.code))) }
        return "\(error)"
    }
}

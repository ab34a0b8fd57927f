import CLibvirt
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A libvirt error, copied out of libvirt's thread-local last error on the thread that made the failing call.
public struct LibvirtError: Error, Sendable, Hashable, CustomStringConvertible {
    /// libvirt's `virErrorNumber` (e.g. 42 = VIR_ERR_NO_DOMAIN).
    public var code: Int32
    /// libvirt's `virErrorDomain`: which part of libvirt raised it.
    public var domain: Int32
    public var message: String

    public init(code: Int32, domain: Int32 = 0, message: String) {
        self.code = code
        self.domain = domain
        self.message = message
    }

    public var description: String { "libvirt error \(code): \(message)" }

    /// The domain does not exist (VIR_ERR_NO_DOMAIN).
    public var isNoDomain: Bool { code == Int32(VIR_ERR_NO_DOMAIN.rawValue) }
    /// The operation is not valid in the domain's current state (VIR_ERR_OPERATION_INVALID), e.g. starting a
    /// running domain.
    public var isOperationInvalid: Bool { code == Int32(VIR_ERR_OPERATION_INVALID.rawValue) }
    /// The driver does not support the call or one of its flags (VIR_ERR_NO_SUPPORT, VIR_ERR_INVALID_ARG for
    /// unsupported flags, VIR_ERR_ARGUMENT_UNSUPPORTED).
    public var isUnsupported: Bool {
        code == Int32(VIR_ERR_NO_SUPPORT.rawValue) || code == Int32(VIR_ERR_INVALID_ARG.rawValue)
            || code == Int32(VIR_ERR_ARGUMENT_UNSUPPORTED.rawValue)
    }

    /// The calling thread's last libvirt error (then reset), or `fallback` if libvirt recorded none.
    /// Call it on the thread that made the failing call, right after it fails: the error is thread-local and
    /// the next libvirt call resets it.
    public static func last(_ fallback: @autoclosure () -> String = "unknown libvirt error") -> LibvirtError {
        guard let e = virGetLastError() else { return LibvirtError(code: -1, message: fallback()) }
        let err = LibvirtError(
            code: e.pointee.code, domain: e.pointee.domain,
            message: e.pointee.message.map { String(cString: $0) } ?? fallback())
        virResetLastError()
        return err
    }
}

/// One connection to a libvirt hypervisor (`test:///default`, `qemu:///system`, …).
///
/// Every libvirt call blocks (it may wait on libvirtd over a socket, or on QEMU), so each one runs on this
/// connection's own serial `DispatchQueue`, never on Swift's cooperative thread pool: `perform` hops there and
/// resumes the caller through a checked continuation. The connection is opened lazily on first use and
/// reopened if libvirtd went away (`virConnectIsAlive`).
///
/// `@unchecked Sendable` because the `virConnectPtr` is mutable state the compiler cannot check: it is only
/// read or written on `queue` (in `perform`, `close` and `connectIfNeeded`), or in `deinit` when no other
/// reference exists, so access is serialised by the queue.
public final class LibvirtConnection: @unchecked Sendable {
    public let uri: String
    private let queue: DispatchQueue
    /// Marks `queue`, so code can tell whether it runs there.
    private let queueKey = DispatchSpecificKey<Bool>()
    /// Touched only on `queue` (or in deinit).
    private var handle: OpaquePointer?

    /// A connection to `uri`; nothing is opened until the first `perform` (or `open()`).
    public init(uri: String) {
        self.uri = uri
        self.queue = DispatchQueue(label: "zedge.libvirt.connection")
        queue.setSpecific(key: queueKey, value: true)
        Self.installErrorHandler
    }

    /// Opens a connection to `uri` now, so a wrong URI fails here rather than on first use.
    public static func open(uri: String) async throws -> LibvirtConnection {
        let c = LibvirtConnection(uri: uri)
        try await c.open()
        return c
    }

    /// Makes sure the connection is open (opening it if not); throws what libvirt says if it cannot.
    public func open() async throws {
        _ = try await perform { _ in () }
    }

    /// Runs `body` with the open `virConnectPtr` on this connection's serial queue and returns its result.
    /// Calls through one connection never overlap; `body` may block. Read libvirt errors inside `body`
    /// (`LibvirtError.last()`), since they are thread-local.
    public func perform<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            queue.async {
                continuation.resume(with: Result {
                    let conn = try self.connectIfNeeded()
                    return try body(conn)
                })
            }
        }
    }

    /// Closes the connection (a later `perform` opens it again).
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                if let h = self.handle {
                    virConnectClose(h)
                    self.handle = nil
                }
                continuation.resume()
            }
        }
    }

    deinit {
        // No other reference exists, so no block is queued or running: touching `handle` here is safe.
        if let h = handle { virConnectClose(h) }
    }

    /// True when called on this connection's queue (inside a `perform` body).
    public var isOnConnectionQueue: Bool { DispatchQueue.getSpecific(key: queueKey) == true }

    /// On `queue` only.
    private func connectIfNeeded() throws -> OpaquePointer {
        dispatchPrecondition(condition: .onQueue(queue))
        if let h = handle {
            if virConnectIsAlive(h) == 1 { return h }
            virConnectClose(h)
            handle = nil
        }
        guard let h = virConnectOpen(uri) else {
            throw LibvirtError.last("cannot connect to \(uri)")
        }
        handle = h
        return h
    }

    /// Runs once per process: libxml2's shared tables (see `LibXMLProcessState`), libvirt's library
    /// initialisation, and a no-op global error handler so libvirt does not print every error to stderr (callers
    /// get them as `LibvirtError`).
    private static let installErrorHandler: Void = {
        LibXMLProcessState.initialized
        _ = virInitialize()
        virSetErrorFunc(nil) { _, _ in }
    }()
}

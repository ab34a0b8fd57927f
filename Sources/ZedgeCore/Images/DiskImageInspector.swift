#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What an uploaded disk image is, read from its own bytes (never from what the client says): qcow2 or raw,
/// and its guest-visible size; or why it is refused.
///
/// Refused: other formats by their magic (VMDK `KDMV` or a text descriptor, VHD `conectix` at 0 or in the
/// last 512 bytes, VHDX `vhdxfile`, VDI signature 0xbeda107f little-endian at offset 64, QED `QED\0`, LUKS,
/// ISO 9660 `CD001` at 0x8001); a raw file whose size is not a positive multiple of 512; a qcow2 that names a
/// backing file (`backing_file_offset` ≠ 0) or an external data file (incompatible feature bit 2, or header
/// extension 0x44415441), is encrypted or marked corrupt, or whose header cannot be read. A qcow2 that points
/// outside itself is a known way to make qemu read host files. The agent also always tells libvirt the format
/// it was given here, so qemu never probes.
///
/// Pure: works on the first `headLength` bytes, the last `tailLength` bytes and the size.
public enum DiskImageInspector {
    /// How many leading bytes `inspect` reads: the qcow2 header and its extensions, and ISO 9660's primary
    /// volume descriptor at 0x8001.
    public static let headLength = 64 * 1024
    /// How many trailing bytes `inspect` reads (a fixed VHD's footer).
    public static let tailLength = 512

    /// The format and guest-visible size of an accepted file.
    public struct Inspection: Sendable, Hashable {
        public var format: DiskFormat
        /// Bytes: the qcow2 header's `size`, or the file size for raw.
        public var virtualSizeBytes: Int64

        public init(format: DiskFormat, virtualSizeBytes: Int64) {
            self.format = format
            self.virtualSizeBytes = virtualSizeBytes
        }
    }

    /// Why a file is refused, in words for the uploader.
    public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    static let qcow2Magic: [UInt8] = [0x51, 0x46, 0x49, 0xFB]  // "QFI\xfb"
    /// Bit 2 of qcow2's incompatible features: the guest data lives in an external file.
    static let externalDataFileFeature: UInt64 = 1 << 2
    /// Bit 1 of qcow2's incompatible features: the image is marked corrupt.
    static let corruptFeature: UInt64 = 1 << 1
    /// qcow2 header extension naming the external data file ("DATA").
    static let externalDataFileExtension: UInt32 = 0x4441_5441

    /// Formats recognised by their magic at a fixed offset of the head, refused by name.
    static let foreignMagics: [(offset: Int, magic: [UInt8], name: String)] = [
        (0, Array("KDMV".utf8), "VMDK"),
        (0, Array("# Disk DescriptorFile".utf8), "VMDK (descriptor)"),
        (0, Array("conectix".utf8), "VHD"),
        (0, Array("vhdxfile".utf8), "VHDX"),
        (64, [0x7F, 0x10, 0xDA, 0xBE], "VDI"),
        (0, [0x51, 0x45, 0x44, 0x00], "QED"),
        (0, [0x4C, 0x55, 0x4B, 0x53, 0xBA, 0xBE], "LUKS"),
        (0x8001, Array("CD001".utf8), "ISO 9660"),
    ]

    /// A refusal that the first bytes already decide, so an upload can stop early; nil when they do not (yet).
    /// `head` is the first `min(size, headLength)` bytes; `complete` says whether it is the whole file.
    public static func earlyRefusal(head: [UInt8], complete: Bool) -> Refusal? {
        if let name = foreignFormat(head: head, tail: []) { return Self.foreign(name) }
        if head.count >= qcow2Magic.count, Array(head.prefix(4)) == qcow2Magic {
            if case .failure(let refusal) = qcow2(head: head, fileSize: nil) { return refusal }
        }
        return nil
    }

    /// Decides what the whole file is.
    public static func inspect(head: [UInt8], tail: [UInt8], size: Int64) -> Result<Inspection, Refusal> {
        guard size > 0 else { return .failure(Refusal("the file is empty")) }
        if let name = foreignFormat(head: head, tail: tail) { return .failure(Self.foreign(name)) }
        if head.count >= 4, Array(head.prefix(4)) == qcow2Magic {
            return qcow2(head: head, fileSize: size)
        }
        guard size % 512 == 0 else {
            return .failure(Refusal("a raw image's size must be a multiple of 512 bytes; this file has \(size) bytes"))
        }
        guard size <= ImageRef.maximumVirtualSizeBytes else {
            return .failure(Refusal("a raw image of \(size) bytes is over the largest disk an instance can have (64 TiB)"))
        }
        return .success(Inspection(format: .raw, virtualSizeBytes: size))
    }

    static func foreign(_ name: String) -> Refusal {
        Refusal("the file is a \(name) image; only qcow2 and raw are accepted (convert it with qemu-img convert -O qcow2)")
    }

    static func foreignFormat(head: [UInt8], tail: [UInt8]) -> String? {
        for (offset, magic, name) in foreignMagics where head.count >= offset + magic.count {
            if Array(head[offset..<(offset + magic.count)]) == magic { return name }
        }
        let footer = Array("conectix".utf8)
        if tail.count >= 512, Array(tail[(tail.count - 512)..<(tail.count - 512 + footer.count)]) == footer { return "VHD" }
        return nil
    }

    /// Reads a qcow2 header (version 2 or 3) and its extensions. `fileSize` nil: only what the head decides.
    static func qcow2(head: [UInt8], fileSize: Int64?) -> Result<Inspection, Refusal> {
        guard head.count >= 72 else {
            return fileSize == nil ? .success(Inspection(format: .qcow2, virtualSizeBytes: 0))
                : .failure(Refusal("the qcow2 header is truncated"))
        }
        let version = be32(head, 4)
        guard version == 2 || version == 3 else { return .failure(Refusal("qcow2 version \(version) is not supported (2 or 3)")) }
        if be64(head, 8) != 0 {
            return .failure(Refusal("the qcow2 header names a backing file; upload a standalone image (qemu-img convert -O qcow2)"))
        }
        let clusterBits = be32(head, 20)
        guard (9...21).contains(clusterBits) else { return .failure(Refusal("the qcow2 cluster size (2^\(clusterBits)) is invalid")) }
        let size = be64(head, 24)
        guard size > 0 else { return .failure(Refusal("the qcow2 virtual size (\(size) bytes) is invalid")) }
        guard size <= UInt64(ImageRef.maximumVirtualSizeBytes) else {
            return .failure(Refusal("the qcow2 virtual size (\(size) bytes) is over the largest disk an instance can have (64 TiB)"))
        }
        if be32(head, 32) != 0 { return .failure(Refusal("the qcow2 image is encrypted; upload an unencrypted image")) }

        var extensionsStart = 72
        if version == 3 {
            guard head.count >= 104 else { return .failure(Refusal("the qcow2 version 3 header is truncated")) }
            let incompatible = be64(head, 72)
            if incompatible & externalDataFileFeature != 0 {
                return .failure(Refusal("the qcow2 header names an external data file; upload a standalone image"))
            }
            if incompatible & corruptFeature != 0 { return .failure(Refusal("the qcow2 image is marked corrupt")) }
            let headerLength = Int(be32(head, 100))
            guard headerLength >= 104, headerLength < 1 << Int(clusterBits) else {
                return .failure(Refusal("the qcow2 header length \(headerLength) is invalid"))
            }
            extensionsStart = headerLength
        }
        // Header extensions follow the header, inside the first cluster, until an end marker (type 0).
        let clusterEnd = 1 << Int(clusterBits)
        var offset = extensionsStart
        while offset < clusterEnd {
            guard offset + 8 <= head.count else {
                // A head shorter than `headLength` is the whole file (or, early, not all of the head yet).
                if head.count < headLength {
                    return fileSize == nil ? .success(Inspection(format: .qcow2, virtualSizeBytes: Int64(size)))
                        : .failure(Refusal("the qcow2 header extensions are truncated"))
                }
                return .failure(Refusal("the qcow2 header extensions reach beyond the first \(headLength / 1024) KiB and cannot be checked"))
            }
            let type = be32(head, offset)
            let length = Int(be32(head, offset + 4))
            if type == 0 { break }
            if type == externalDataFileExtension {
                return .failure(Refusal("the qcow2 header names an external data file; upload a standalone image"))
            }
            guard length <= clusterEnd else { return .failure(Refusal("a qcow2 header extension is longer than the first cluster")) }
            offset += 8 + (length + 7) / 8 * 8
        }
        return .success(Inspection(format: .qcow2, virtualSizeBytes: Int64(size)))
    }

    static func be32(_ b: [UInt8], _ at: Int) -> UInt32 {
        b[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func be64(_ b: [UInt8], _ at: Int) -> UInt64 {
        b[at..<(at + 8)].reduce(0) { $0 << 8 | UInt64($1) }
    }
}

import Foundation
import Testing
import ZedgeCore

/// A qcow2 header (big-endian) as the spec lays it out, with optional header extensions after it.
func qcow2Header(
    version: UInt32 = 3, size: UInt64 = 1 << 30, backingFileOffset: UInt64 = 0, clusterBits: UInt32 = 16,
    cryptMethod: UInt32 = 0, incompatible: UInt64 = 0, extensions: [(type: UInt32, data: [UInt8])] = [], length: Int = 3 << 16
) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: length)
    func put32(_ v: UInt32, _ at: Int) { for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (24 - 8 * i)) } }
    func put64(_ v: UInt64, _ at: Int) { for i in 0..<8 { b[at + i] = UInt8(truncatingIfNeeded: v >> (56 - 8 * i)) } }
    b[0] = 0x51; b[1] = 0x46; b[2] = 0x49; b[3] = 0xFB
    put32(version, 4)
    put64(backingFileOffset, 8)
    if backingFileOffset != 0 {
        let name = Array("/etc/shadow".utf8)
        put32(UInt32(name.count), 16)
        b.replaceSubrange(Int(backingFileOffset)..<(Int(backingFileOffset) + name.count), with: name)
    }
    put32(clusterBits, 20)
    put64(size, 24)
    put32(cryptMethod, 32)
    put64(1 << 16, 48)  // refcount table at the second cluster
    put32(1, 56)
    var offset = 72
    if version == 3 {
        put64(incompatible, 72)
        put32(4, 96)     // refcount order
        put32(104, 100)  // header length
        offset = 104
    }
    for (type, data) in extensions {
        put32(type, offset)
        put32(UInt32(data.count), offset + 4)
        b.replaceSubrange((offset + 8)..<(offset + 8 + data.count), with: data)
        offset += 8 + (data.count + 7) / 8 * 8
    }
    return b
}

@Suite struct DiskImageInspectorTests {
    func inspect(_ file: [UInt8]) -> Result<DiskImageInspector.Inspection, DiskImageInspector.Refusal> {
        DiskImageInspector.inspect(head: Array(file.prefix(DiskImageInspector.headLength)),
                                   tail: Array(file.suffix(DiskImageInspector.tailLength)), size: Int64(file.count))
    }

    func refusal(_ file: [UInt8]) -> String? {
        if case .failure(let refusal) = inspect(file) { return refusal.message }
        return nil
    }

    /// A header whose virtual size is absurd (2^63 - 1) once crashed instance creation through an overflow:
    /// anything over the largest root disk (64 TiB) is refused at upload.
    @Test func aVirtualSizeOverTheLargestDiskIsRefused() throws {
        #expect(refusal(qcow2Header(size: UInt64(Int64.max)))?.contains("64 TiB") == true)
        #expect(refusal(qcow2Header(size: UInt64(ImageRef.maximumVirtualSizeBytes) + 512))?.contains("64 TiB") == true)
        #expect(try inspect(qcow2Header(size: UInt64(ImageRef.maximumVirtualSizeBytes))).get().virtualSizeBytes
            == ImageRef.maximumVirtualSizeBytes)
        #expect(DiskImageInspector.earlyRefusal(head: qcow2Header(size: UInt64(Int64.max)), complete: false) != nil)
    }

    @Test func qcow2AndRawAreAcceptedWithTheirVirtualSize() throws {
        #expect(try inspect(qcow2Header(size: 5 << 30)).get() == .init(format: .qcow2, virtualSizeBytes: 5 << 30))
        #expect(try inspect(qcow2Header(version: 2, size: 1 << 20)).get() == .init(format: .qcow2, virtualSizeBytes: 1 << 20))
        // Known extensions (backing format name, feature names) are fine; the end marker stops the walk.
        let named = qcow2Header(extensions: [(0x6803_F857, [UInt8](repeating: 1, count: 48)), (0xE279_2ACA, Array("raw".utf8))])
        #expect(try inspect(named).get().format == .qcow2)
        #expect(try inspect([UInt8](repeating: 0, count: 4096)).get() == .init(format: .raw, virtualSizeBytes: 4096))
    }

    @Test func otherFormatsAreRefusedByName() {
        func at(_ offset: Int, _ magic: [UInt8], size: Int = 1 << 16) -> [UInt8] {
            var b = [UInt8](repeating: 0, count: size)
            b.replaceSubrange(offset..<(offset + magic.count), with: magic)
            return b
        }
        #expect(refusal(at(0, Array("KDMV".utf8)))?.contains("VMDK") == true)
        #expect(refusal(at(0, Array("# Disk DescriptorFile\n".utf8)))?.contains("VMDK") == true)
        #expect(refusal(at(0, Array("conectix".utf8)))?.contains("VHD") == true)
        #expect(refusal(at((1 << 16) - 512, Array("conectix".utf8)))?.contains("VHD") == true, "a fixed VHD's footer")
        #expect(refusal(at(0, Array("vhdxfile".utf8)))?.contains("VHDX") == true)
        #expect(refusal(at(64, [0x7F, 0x10, 0xDA, 0xBE]))?.contains("VDI") == true)
        #expect(refusal(at(0x8001, Array("CD001".utf8)))?.contains("ISO 9660") == true)
        // The head alone already decides these, so an upload can stop early.
        #expect(DiskImageInspector.earlyRefusal(head: at(0, Array("KDMV".utf8)), complete: false) != nil)
        #expect(DiskImageInspector.earlyRefusal(head: [UInt8](repeating: 0, count: 1 << 16), complete: false) == nil)
    }

    @Test func rawMustBeWholeSectors() {
        #expect(refusal([UInt8](repeating: 0, count: 1000))?.contains("multiple of 512") == true)
        #expect(refusal([])?.contains("empty") == true)
    }

    @Test func qcow2ThatPointsOutsideItselfIsRefused() {
        #expect(refusal(qcow2Header(backingFileOffset: 0x200))?.contains("backing file") == true)
        #expect(refusal(qcow2Header(version: 2, backingFileOffset: 0x200))?.contains("backing file") == true)
        #expect(DiskImageInspector.earlyRefusal(head: Array(qcow2Header(backingFileOffset: 0x200).prefix(1 << 16)), complete: false) != nil)
        #expect(refusal(qcow2Header(incompatible: 1 << 2))?.contains("external data file") == true)
        #expect(refusal(qcow2Header(extensions: [(0x4441_5441, Array("/dev/sda".utf8))]))?.contains("external data file") == true)
        #expect(refusal(qcow2Header(cryptMethod: 1))?.contains("encrypted") == true)
        #expect(refusal(qcow2Header(version: 4))?.contains("version") == true)
        #expect(refusal(qcow2Header(size: 0))?.contains("virtual size") == true)
        #expect(refusal(Array(qcow2Header().prefix(50)))?.contains("truncated") == true)
    }
}

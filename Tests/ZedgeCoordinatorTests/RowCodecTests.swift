import Foundation
import SQLiteKit
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

@Suite struct RowCodecTests {
    @Test func columnNamesAreSnakeCase() {
        #expect(RowCodec.column("edgeDataCenterId") == "edge_data_center_id")
        #expect(RowCodec.column("timeoutS") == "timeout_s")
        #expect(RowCodec.column("id") == "id")
        #expect(RowCodec.property("edge_data_center_id") == "edgeDataCenterId")
        for name in ["allocatedGpuCount", "temporaryBindExpiresAt", "vmUuid", "checksumMd5"] {
            #expect(RowCodec.property(RowCodec.column(name)) == name)
        }
        // Longer than a small string, a leading capital, no capital, and not ASCII.
        #expect(RowCodec.column("instancePrivateDataDiskAttachmentId") == "instance_private_data_disk_attachment_id")
        #expect(RowCodec.column("URL") == "u_r_l")
        #expect(RowCodec.column("a") == "a")
        #expect(RowCodec.column("") == "")
        #expect(RowCodec.column("größeGb") == "größe_gb")
    }

    /// SQLite's rows convert scalars without `SQLiteDataDecoder`, and statements bind them without
    /// `SQLiteDataEncoder`: each must give exactly what SQLiteKit gives, and leave the rest (and its errors) to it.
    @Test func sqliteScalarsMatchSQLiteKit() throws {
        let encoder = SQLiteDataEncoder()
        let decoder = SQLiteDataDecoder()
        let uuid = UUID()
        let date = Date(timeIntervalSince1970: 1_764_000_000.123_456_7)
        let values: [any Encodable & Sendable] = ["text", "", uuid, 42, -7, 3.25, true, false, date, InstanceStatus.running]
        for value in values {
            #expect(try SQLiteStore.bindable(value) == encoder.encode(value), "\(value)")
        }
        #expect(try SQLiteStore.bindable(Int64(9)) == encoder.encode(Int64(9)))
        #expect(try SQLiteStore.bindable(["a": 1]) == encoder.encode(["a": 1]))

        func same<T: Decodable & Equatable>(_ data: SQLiteData, _ type: T.Type) throws {
            let expected = try decoder.decode(T.self, from: data)
            #expect(SQLiteStoreRow.scalar(data, as: T.self) == expected, "\(data) as \(T.self)")
        }
        try same(.text("text"), String.self)
        try same(.text(uuid.uuidString), UUID.self)
        try same(.text(uuid.uuidString.lowercased()), UUID.self)
        try same(.integer(42), Int.self)
        try same(.integer(42), Int64.self)
        try same(.integer(1), Bool.self)
        try same(.integer(0), Bool.self)
        try same(.float(3.25), Double.self)
        try same(encoder.encode(date), Date.self)
        try same(.text("RUNNING"), InstanceStatus.self)

        // What the fast path does not take goes to the decoder: other storage classes, and values it refuses.
        #expect(SQLiteStoreRow.scalar(.text("not a uuid"), as: UUID.self) == nil)
        #expect(SQLiteStoreRow.scalar(.text("NOPE"), as: InstanceStatus.self) == nil)
        #expect(SQLiteStoreRow.scalar(.integer(3), as: Double.self) == nil)
        #expect(SQLiteStoreRow.scalar(.null, as: String.self) == nil)
        let row = SQLiteStoreRow(columns: SQLiteColumns(["status", "n"]), values: [.text("NOPE"), .integer(3)])
        #expect(throws: DecodingError.self) { try row.decode(column: "status", as: InstanceStatus.self) }
        #expect(try row.decode(column: "n", as: Double.self) == 3)
    }

    @Test func writesEveryColumnIncludingNulls() throws {
        let tenant = Tenant(name: "t", status: .active)
        let columns = try RowCodec.columns(of: tenant).map(\.column)
        #expect(Set(columns) == ["id", "name", "description", "status", "admin_user_id", "vlan_id", "quota_config",
                                 "created_at", "updated_at", "created_by"])
    }
}

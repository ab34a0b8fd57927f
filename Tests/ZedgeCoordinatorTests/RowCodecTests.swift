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
    }

    @Test func writesEveryColumnIncludingNulls() throws {
        let tenant = Tenant(name: "t", status: .active)
        let columns = try RowCodec.columns(of: tenant).map(\.column)
        #expect(Set(columns) == ["id", "name", "description", "status", "admin_user_id", "vlan_id", "quota_config",
                                 "created_at", "updated_at", "created_by"])
    }
}

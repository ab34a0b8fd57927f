import Foundation
import Testing
import ZedgeCore

private struct Wrapper<E: ZedgeEnum>: Codable { var value: E }

private func checkRoundTrip<E: ZedgeEnum>(_ type: E.Type) throws {
    #expect(!E.allCases.isEmpty)
    #expect(E.allowedValues == E.allCases.map(\.rawValue))
    for c in E.allCases {
        let data = try JSONEncoder().encode(Wrapper(value: c))
        #expect(String(decoding: data, as: UTF8.self) == "{\"value\":\"\(c.rawValue)\"}")
        #expect(try JSONDecoder().decode(Wrapper<E>.self, from: data).value == c)
    }
    // Lowercase or unknown values are refused with the allowed list and the field's path.
    let bad = Data("{\"value\":\"\(E.allCases[0].rawValue.lowercased())x\"}".utf8)
    do {
        _ = try JSONDecoder().decode(Wrapper<E>.self, from: bad)
        Issue.record("\(E.self) accepted a bad value")
    } catch DecodingError.dataCorrupted(let ctx) {
        #expect(ctx.debugDescription == "must be one of " + E.allowedValues.joined(separator: ", "))
        #expect(ctx.codingPath.map(\.stringValue) == ["value"])
    } catch {
        Issue.record("unexpected error \(error)")
    }
}

@Suite struct EnumTests {
    @Test func everyEnumRoundTripsWithExactRawValues() throws {
        #expect(ZedgeEnums.all.count == 43)
        for type in ZedgeEnums.all { try checkRoundTrip(type) }
    }

    @Test func rawValuesAreTheSeeds() {
        #expect(UserRole.allowedValues == ["ADMIN", "TENANT_ADMIN", "OPERATOR", "USER"])
        #expect(UserRole.operator.rawValue == "OPERATOR")
        #expect(InstanceStatus.allowedValues == ["CREATING", "STARTING", "RUNNING", "STOPPING", "STOPPED", "ERROR", "DELETING", "DELETED"])
        #expect(InstanceDesiredStatus.allowedValues == ["RUNNING", "STOPPED", "DELETED"])
        #expect(ResourceType.allowedValues == ["TENANT", "USER", "USER_GROUP", "INSTANCE", "INSTANCE_SET", "STORAGE",
                                               "NETWORK", "IMAGE", "SERVER", "EDGE_DC", "PLACE", "TEMPLATE"])
        #expect(TemplateVisibility.public.rawValue == "PUBLIC" && ImageVisibility.private.rawValue == "PRIVATE")
        #expect(HypervisorType.hyperV.rawValue == "HYPER_V")
        #expect(MountMode.allowedValues == ["RW", "RO"])
        #expect(AuditStatus.allowedValues == ["SUCCESS", "DENIED", "FAILED"])
        #expect(EnrollmentKind.allowedValues == ["COMPUTE_MACHINE", "CLOUD_BOX"])
        #expect(EventKind.allowedValues == ["STEP", "INFO", "ERROR", "COMPLETE"])
        #expect(TaskStatus.allowedValues == ["QUEUED", "LEASED", "SUCCEEDED", "FAILED", "CANCELLED"])
        #expect(TaskKind.allowedValues == ["vm.create", "vm.start", "vm.stop", "vm.restart", "vm.delete", "disk.create",
                                           "disk.resize", "disk.delete", "disk.attach", "disk.detach", "image.fetch",
                                           "cloudbox.configure-network", "cloudbox.bind", "cloudbox.unbind", "cloudbox.reboot"])
        #expect(TaskKind.cloudboxConfigureNetwork.rawValue == "cloudbox.configure-network")
        #expect(SchedulingPolicyName.all == ["load_balance", "bin_pack"])
    }

    @Test func badValueMessageListsValues() {
        let data = Data("\"SUPERUSER\"".utf8)
        #expect {
            try JSONDecoder().decode(UserRole.self, from: data)
        } throws: { error in
            guard case DecodingError.dataCorrupted(let ctx) = error else { return false }
            return ctx.debugDescription == "must be one of ADMIN, TENANT_ADMIN, OPERATOR, USER"
        }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(UserRole.self, from: Data("42".utf8)) }
        #expect(UserRole.parse("ADMIN", field: "role") == .success(.admin))
        #expect(UserRole.parse("admin", field: "role")
                == .failure(FieldError(field: "role", message: "must be one of ADMIN, TENANT_ADMIN, OPERATOR, USER")))
        #expect(Validate.enumValue("ADMIN' OR 1=1", as: UserRole.self, field: "role")?.field == "role")
        #expect(Validate.enumValue("USER", as: UserRole.self, field: "role") == nil)
    }
}

import Foundation
import Testing
import ZedgeCore

private func encoder() -> JSONEncoder {
    let e = JSONEncoder()
    e.dateEncodingStrategy = .iso8601
    e.outputFormatting = [.sortedKeys]
    return e
}

private func decoder() -> JSONDecoder {
    let d = JSONDecoder()
    d.dateDecodingStrategy = .iso8601
    return d
}

/// Encodes, decodes, checks equality, and returns the top-level JSON object.
private func roundTrip<T: Codable & Hashable>(_ value: T) throws -> [String: Any] {
    let data = try encoder().encode(value)
    let back = try decoder().decode(T.self, from: data)
    #expect(back == value, "\(T.self) did not round-trip")
    let again = try ZedgeJSON.decoder().decode(T.self, from: ZedgeJSON.encoder().encode(value))
    #expect(again == value, "\(T.self) did not round-trip through ZedgeJSON")
    return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
}

private func keys<T: Codable & Hashable>(_ value: T) throws -> Set<String> {
    Set(try roundTrip(value).keys)
}

private func propertyNames(_ value: Any) -> Set<String> {
    Set(Mirror(reflecting: value).children.compactMap(\.label))
}

@Suite struct ModelCodingTests {
    @Test func everyModelRoundTripsWithPropertyNamesAsKeys() throws {
        #expect(Samples.all.count == 37)
        for sample in Samples.all {
            let jsonKeys = try keys(sample)
            #expect(jsonKeys == propertyNames(sample), "\(type(of: sample)) keys differ from its property names")
        }
    }

    @Test func literalCamelCaseKeys() throws {
        let cm = try roundTrip(Samples.computeMachine)
        for k in ["edgeDataCenterId", "allocatedCpuCores", "allocatedGpuCount", "hypervisorType", "lastHeartbeat", "managementIp"] {
            #expect(cm[k] != nil, "ComputeMachine lacks \(k)")
        }
        let cb = try roundTrip(Samples.cloudBox)
        for k in ["temporaryBindExpiresAt", "temporaryInstanceId", "serialNumber", "cpuUsagePercent", "uptimeSeconds"] {
            #expect(cb[k] != nil, "CloudBox lacks \(k)")
        }
        let rp = try roundTrip(Samples.resourcePool)
        #expect(rp["schedulingPolicy"] != nil && rp["ipPoolConfig"] != nil && rp["totalGpuCount"] != nil)
        let inst = try roundTrip(Samples.instance)
        #expect(inst["desiredStatus"] as? String == "DELETED" && inst["timeoutS"] != nil && inst["virtualMachineId"] != nil)
        let disk = try roundTrip(Samples.privateDataDisk)
        #expect(disk["rbdImageName"] != nil && disk["maxAttachments"] != nil)
        #expect(try roundTrip(Samples.tenant)["quotaConfig"] is [String: Any])
        #expect((cm["createdAt"] as? String)?.hasSuffix("Z") == true)
    }

    @Test func userJSONHasNoPasswordKey() throws {
        let json = String(decoding: try encoder().encode(Samples.user), as: UTF8.self).lowercased()
        #expect(!json.contains("password"))
        #expect(!propertyNames(Samples.user).contains { $0.lowercased().contains("password") || $0.lowercased().contains("hash") })
        // Credential types carry no hash either.
        for sample in [Samples.apiKey, Samples.refreshToken, Samples.enrollmentToken, Samples.agentCredential] as [Any] {
            #expect(!propertyNames(sample).contains { $0.lowercased().contains("hash") }, "\(type(of: sample)) has a hash field")
        }
    }

    @Test func defaultsMatchTheSeed() {
        let u = UUID.v7()
        let t = Template(name: "t", defaultCpuCores: 2, defaultMemoryGb: 4, defaultStorageGb: 20, visibility: .private, ownerId: u)
        #expect(t.defaultGpuCount == 0 && t.version == "v1.0.0" && t.status == .active && t.templateType == .instance)
        let p = ResourcePool(name: "p", edgeDataCenterId: u)
        #expect(p.schedulingPolicy == "load_balance" && p.totalCpuCores == 0 && p.allocatedGpuCount == 0)
        let d = PrivateDataDisk(name: "d", tenantId: u, userId: u, sizeGb: 10, rbdImageName: "img")
        #expect(d.maxAttachments == 1 && d.rbdPool == "private-data-disks")
        let v = Vpc(name: "v", tenantId: u, userId: u, cidrBlock: "10.0.0.0/16")
        #expect(v.enableDns)
        let s = Subnet(name: "s", vpcId: u, cidrBlock: "10.0.1.0/24")
        #expect(!s.isPublic && s.autoAssignIp)
        let ip = IpAddress(ipAddress: "10.0.1.5", ipPoolId: u, subnetId: u)
        #expect(ip.rangeSize == 1 && !ip.isRangeStart && ip.status == .available)
        let iv = ImageVersion(imageId: u, versionNumber: "1", createdBy: u)
        #expect(!iv.isLatest && !iv.isDefault)
        #expect(!ImageTag(imageId: u, versionId: u, tagName: "x").isImmutable)
        #expect(!TemplateVersion(templateId: u, versionNumber: "1", configSnapshot: [:], createdBy: u).isLatest)
        #expect(!CloudBox(name: "b", serialNumber: "SN1").isDisabled)
        let cm = ComputeMachine(hostname: "h", name: "h", edgeDataCenterId: u, resourcePoolId: u, machineType: .cpuServer,
                                rentalMode: .shared, cpuCores: 8, memoryGb: 32, storageGb: 500, managementIp: "10.0.0.2")
        #expect(cm.gpuCount == 0 && cm.allocatedCpuCores == 0 && cm.allocatedMemoryGb == 0 && cm.allocatedStorageGb == 0)
        #expect(EdgeDataCenter(name: "e").totalMemoryGb == 0)
        let i = Instance(name: "i", tenantId: u, userId: u)
        #expect(i.status == .creating && i.desiredStatus == .running && i.timeoutS == nil)
        #expect(i.id.version == 7)
    }

    @Test func missingOptionalKeysDecode() throws {
        let json = """
        {"id":"0190a5c4-0000-7000-8000-000000000001","name":"acme","status":"ACTIVE",
         "adminUserId":"0190a5c4-0000-7000-8000-000000000002",
         "createdAt":"2025-01-01T00:00:00Z","updatedAt":"2025-01-01T00:00:00Z"}
        """
        let t = try decoder().decode(Tenant.self, from: Data(json.utf8))
        #expect(t.name == "acme" && t.description == nil && t.quotaConfig == nil && t.vlanId == nil)
    }

    @Test func zedgeJSONDatesKeepMillisecondsAndAcceptBothForms() throws {
        let d = Date(timeIntervalSince1970: 1_700_000_000.25)
        #expect(ZedgeJSON.formatDate(d) == "2023-11-14T22:13:20.250Z")
        #expect(ZedgeJSON.parseDate("2023-11-14T22:13:20Z") == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(ZedgeJSON.parseDate("2023-11-14T22:13:20.250Z").map { abs($0.timeIntervalSince(d)) < 0.001 } == true)
        #expect(ZedgeJSON.parseDate("yesterday") == nil)
        let m = MetricSample(recordedAt: d, cpuUsagePercent: 12.5)
        let back = try ZedgeJSON.decoder().decode(MetricSample.self, from: ZedgeJSON.encoder().encode(m))
        #expect(abs(back.recordedAt.timeIntervalSince(d)) < 0.001 && back.cpuUsagePercent == 12.5)
    }

    @Test func badEnumInModelNamesTheField() throws {
        let json = """
        {"id":"0190a5c4-0000-7000-8000-000000000001","name":"acme","status":"BOGUS",
         "adminUserId":"0190a5c4-0000-7000-8000-000000000002",
         "createdAt":"2025-01-01T00:00:00Z","updatedAt":"2025-01-01T00:00:00Z"}
        """
        do {
            _ = try decoder().decode(Tenant.self, from: Data(json.utf8))
            Issue.record("decoded a bad enum value")
        } catch DecodingError.dataCorrupted(let ctx) {
            #expect(ctx.codingPath.map(\.stringValue) == ["status"])
            #expect(ctx.debugDescription == "must be one of ACTIVE, INACTIVE, SUSPENDED")
        }
    }
}

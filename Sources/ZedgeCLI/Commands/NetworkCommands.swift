import ArgumentParser
import Foundation
import ZedgeCore

// MARK: - VPCs

enum Vpcs: CreatableResource, UpdatableResource {
    static let spec = Resources.vpcs
    typealias CreateFlags = VpcFlags
    typealias UpdateFlags = VpcFlags
}

struct VpcFlags: BodyFlags {
    @Option var name: String?
    @Option var description: String?
    @Option(help: "Its CIDR block, e.g. 10.40.0.0/16.") var cidr: String?
    @Option(help: "Its data center (name or id).") var dc: String?
    @Option var vlanId: Int?
    @Option var enableDns: Bool?
    @Option(help: "DNS servers (repeatable).") var dns: [String] = []
    @Option(help: "The tenant (name or id; ADMIN).") var tenant: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("description", description); f.put("cidrBlock", cidr); f.put("edgeDataCenterId", dc)
        f.put("vlanId", vlanId); f.put("enableDns", enableDns); f.put("dnsServers", dns); f.put("tenantId", tenant)
        return f
    }
}

struct VpcCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vpc", abstract: "VPCs (a tenant's networks).", subcommands: [ListCommand<Vpcs>.self, ShowCommand<Vpcs>.self, CreateCommand<Vpcs>.self, UpdateCommand<Vpcs>.self,
                      DeleteCommand<Vpcs>.self], aliases: ["vpcs"])
}

// MARK: - Subnets

enum Subnets: CreatableResource, UpdatableResource {
    static let spec = Resources.subnets
    typealias CreateFlags = SubnetFlags
    typealias UpdateFlags = SubnetFlags
}

struct SubnetFlags: BodyFlags {
    @Option var name: String?
    @Option(help: "Its VPC (name or id; create).") var vpc: String?
    @Option(help: "Its CIDR block (create).") var cidr: String?
    @Option var gateway: String?
    @Option var availabilityZone: String?
    @Option var vlanId: Int?
    @Option var status: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("vpcId", vpc); f.put("cidrBlock", cidr); f.put("gateway", gateway)
        f.put("availabilityZone", availabilityZone); f.put("vlanId", vlanId); f.put("status", status)
        return f
    }
}

struct SubnetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subnet", abstract: "Subnets of VPCs (with IPAM).", subcommands: [ListCommand<Subnets>.self, ShowCommand<Subnets>.self, CreateCommand<Subnets>.self, UpdateCommand<Subnets>.self,
                      DeleteCommand<Subnets>.self], aliases: ["subnets"])
}

// MARK: - Places

enum Places: CreatableResource, UpdatableResource {
    static let spec = Resources.places
    typealias CreateFlags = PlaceFlags
    typealias UpdateFlags = PlaceFlags
}

struct PlaceFlags: BodyFlags {
    @Option var name: String?
    @Option var description: String?
    @Option(help: "Its subnet (name or id).") var subnet: String?
    @Option var location: String?
    @Option var status: String?
    @Option(help: "The tenant (name or id; create, ADMIN).") var tenant: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("description", description); f.put("subnetId", subnet); f.put("location", location)
        f.put("status", status); f.put("tenantId", tenant)
        return f
    }
}

struct PlaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "place", abstract: "Places (where CloudBoxes get their STATIC addresses from).", subcommands: [ListCommand<Places>.self, ShowCommand<Places>.self, CreateCommand<Places>.self, UpdateCommand<Places>.self,
                      DeleteCommand<Places>.self], aliases: ["places"])
}

// MARK: - IP addresses

enum IpAddresses: CreatableResource, UpdatableResource {
    static let spec = Resources.ipAddresses
    typealias CreateFlags = IpAddressFlags
    typealias UpdateFlags = IpAddressFlags
}

struct IpAddressFlags: BodyFlags {
    @Option(help: "Its subnet (name or id; create).") var subnet: String?
    @Option(help: "The address (default: the lowest free one).") var address: String?
    @Option(help: "ALLOCATED or RESERVED.") var status: String?
    @Option(help: "The instance (name or id).") var instance: String?
    @Option var mac: String?
    @Option(help: "Hold this many consecutive addresses.") var rangeSize: Int?
    @Option(help: "Release it at this time (RFC 3339).") var leaseExpiresAt: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("subnetId", subnet); f.put("ipAddress", address); f.put("status", status); f.put("instanceId", instance)
        f.put("macAddress", mac); f.put("rangeSize", rangeSize); f.put("leaseExpiresAt", leaseExpiresAt)
        return f
    }
}

struct IpAddressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ip-address", abstract: "IP addresses (IPAM: allocate, reserve, release).", subcommands: [ListCommand<IpAddresses>.self, ShowCommand<IpAddresses>.self, CreateCommand<IpAddresses>.self,
                      UpdateCommand<IpAddresses>.self, DeleteCommand<IpAddresses>.self], aliases: ["ip-addresses", "ip"])
}

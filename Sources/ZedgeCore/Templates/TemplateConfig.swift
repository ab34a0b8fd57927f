#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a TemplateVersion's `configSnapshot` holds: the instance's size and image, and the parameters an
/// instance create may (or must) supply. Immutable once a version is published.
public struct TemplateConfig: Codable, Sendable, Hashable {
    public var cpuCores: Int
    public var memoryGb: Int
    public var storageGb: Int
    public var gpuCount: Int
    public var gpuModel: String?
    public var baseImageId: UUID?
    public var networkConfig: JSONValue?
    public var userData: String?
    /// The console the instance gets (default VNC).
    public var console: GraphicsKind
    public var parameters: [TemplateParameter]

    public static let cpuRange = 1...512
    public static let memoryRange = 1...4096
    public static let storageRange = 1...65536
    public static let gpuRange = 0...16
    /// The most characters of `userData` (a cloud-init document).
    public static let maximumUserData = 65_536
    /// The most parameters a template declares.
    public static let maximumParameters = 64
    /// Parameters with these names set the instance's size (integers).
    public static let sizeParameters: Set<String> = ["cpuCores", "memoryGb", "storageGb", "gpuCount"]

    public init(
        cpuCores: Int, memoryGb: Int, storageGb: Int, gpuCount: Int = 0, gpuModel: String? = nil, baseImageId: UUID? = nil,
        networkConfig: JSONValue? = nil, userData: String? = nil, console: GraphicsKind = .vnc, parameters: [TemplateParameter] = []
    ) {
        self.cpuCores = cpuCores
        self.memoryGb = memoryGb
        self.storageGb = storageGb
        self.gpuCount = gpuCount
        self.gpuModel = gpuModel
        self.baseImageId = baseImageId
        self.networkConfig = networkConfig
        self.userData = userData
        self.console = console
        self.parameters = parameters
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cpuCores = try c.decode(Int.self, forKey: .cpuCores)
        memoryGb = try c.decode(Int.self, forKey: .memoryGb)
        storageGb = try c.decode(Int.self, forKey: .storageGb)
        gpuCount = try c.decodeIfPresent(Int.self, forKey: .gpuCount) ?? 0
        gpuModel = try c.decodeIfPresent(String.self, forKey: .gpuModel)
        baseImageId = try c.decodeIfPresent(UUID.self, forKey: .baseImageId)
        networkConfig = try c.decodeIfPresent(JSONValue.self, forKey: .networkConfig)
        userData = try c.decodeIfPresent(String.self, forKey: .userData)
        console = try c.decodeIfPresent(GraphicsKind.self, forKey: .console) ?? .vnc
        parameters = try c.decodeIfPresent([TemplateParameter].self, forKey: .parameters) ?? []
    }

    /// Problems with the config, fields prefixed with `prefix` ("config.").
    public func validate(prefix: String = "") -> [FieldError] {
        var errors = Validate.collect(
            Validate.size(cpuCores, field: prefix + "cpuCores", in: Self.cpuRange),
            Validate.size(memoryGb, field: prefix + "memoryGb", in: Self.memoryRange),
            Validate.size(storageGb, field: prefix + "storageGb", in: Self.storageRange),
            Validate.size(gpuCount, field: prefix + "gpuCount", in: Self.gpuRange),
            gpuModel.flatMap { Validate.displayText($0, field: prefix + "gpuModel", maxLength: 128) },
            userData.flatMap { $0.unicodeScalars.count > Self.maximumUserData
                ? FieldError(field: prefix + "userData", message: "must be at most \(Self.maximumUserData) characters") : nil })
        var names: Set<String> = []
        for (i, parameter) in parameters.enumerated() {
            let field = "\(prefix)parameters[\(i)]"
            errors += parameter.validate(field: field)
            if !names.insert(parameter.name).inserted {
                errors.append(FieldError(field: field + ".name", message: "'\(parameter.name)' is declared twice"))
            }
            if Self.sizeParameters.contains(parameter.name), parameter.type != .integer {
                errors.append(FieldError(field: field + ".type", message: "must be integer: '\(parameter.name)' sets the instance's size"))
            }
        }
        if parameters.count > Self.maximumParameters {
            errors.append(FieldError(field: prefix + "parameters", message: "must have at most \(Self.maximumParameters) entries"))
        }
        errors += Self.checkDefaultNetworks(networkConfig, field: prefix + "networkConfig.networks")
        return errors
    }

    /// `networkConfig: {"networks": [{"subnetId": UUID, "ipAddress"?: address}]}` gives instances their default
    /// NICs (at most 8); a `networkConfig` without `networks` (a cloud-init document) is not checked here.
    static func checkDefaultNetworks(_ networkConfig: JSONValue?, field: String) -> [FieldError] {
        guard let list = networkConfig?.objectValue?["networks"] else { return [] }
        guard let entries = list.arrayValue, entries.count <= 8 else {
            return [FieldError(field: field, message: "must be a list of at most 8 {subnetId, ipAddress?}")]
        }
        var errors: [FieldError] = []
        for (i, entry) in entries.enumerated() {
            guard let object = entry.objectValue, Set(object.keys).isSubset(of: ["subnetId", "ipAddress"]) else {
                errors.append(FieldError(field: "\(field)[\(i)]", message: "must be {subnetId, ipAddress?}"))
                continue
            }
            if object["subnetId"]?.stringValue.flatMap(UUID.init(uuidString:)) == nil {
                errors.append(FieldError(field: "\(field)[\(i)].subnetId", message: "must be a subnet id (UUID)"))
            }
            if let address = object["ipAddress"], address.stringValue.flatMap(IPAddress.init) == nil {
                errors.append(FieldError(field: "\(field)[\(i)].ipAddress", message: "must be an IPv4 or IPv6 address"))
            }
        }
        return errors
    }

    /// Fills in and checks an instance's parameter values: unknown names, missing required values, wrong
    /// types and values out of range are errors (fields "parameters.NAME"). Size parameters override the size.
    public func resolve(_ values: [String: JSONValue]) -> Result<ResolvedInstanceConfig, ValidationFailure> {
        var errors: [FieldError] = []
        let declared = Dictionary(parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in values.keys.sorted() where declared[name] == nil {
            errors.append(FieldError(field: "parameters.\(name)", message: "is not a parameter of this template"))
        }
        var resolved: [String: JSONValue] = [:]
        for parameter in parameters {
            let field = "parameters.\(parameter.name)"
            let supplied = values[parameter.name].flatMap { $0.isNull ? nil : $0 }
            guard let value = supplied ?? parameter.default else {
                if parameter.required { errors.append(FieldError(field: field, message: "is required")) }
                continue
            }
            if let problem = parameter.check(value) {
                errors.append(FieldError(field: field, message: problem))
            } else {
                resolved[parameter.name] = value
            }
        }
        var size = ClaimAmounts(cpuCores: cpuCores, memoryGb: memoryGb, storageGb: storageGb, gpuCount: gpuCount)
        if let v = resolved["cpuCores"]?.intValue { size.cpuCores = v }
        if let v = resolved["memoryGb"]?.intValue { size.memoryGb = v }
        if let v = resolved["storageGb"]?.intValue { size.storageGb = v }
        if let v = resolved["gpuCount"]?.intValue { size.gpuCount = v }
        errors += Validate.collect(
            Validate.size(size.cpuCores, field: "parameters.cpuCores", in: Self.cpuRange),
            Validate.size(size.memoryGb, field: "parameters.memoryGb", in: Self.memoryRange),
            Validate.size(size.storageGb, field: "parameters.storageGb", in: Self.storageRange),
            Validate.size(size.gpuCount, field: "parameters.gpuCount", in: Self.gpuRange))
        guard errors.isEmpty else { return .failure(ValidationFailure(errors: errors)) }
        return .success(ResolvedInstanceConfig(
            resources: size, gpuModel: gpuModel, baseImageId: baseImageId, networkConfig: networkConfig, userData: userData,
            console: console, parameters: resolved))
    }
}

/// One declared template parameter.
public struct TemplateParameter: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, Hashable, CaseIterable {
        case string, integer, number, boolean

        /// Strict, as a `ZedgeEnum` decodes (its values are lower case, as JSON Schema's types): an unknown type fails
        /// with `DecodingError.dataCorrupted` "must be one of string, integer, number, boolean", which the API
        /// answers as a 400 naming the field.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            let raw = try container.decode(String.self)
            guard let kind = Kind(rawValue: raw) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "must be one of " + Kind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            self = kind
        }
    }

    public var name: String
    public var type: Kind
    public var description: String?
    public var required: Bool
    public var `default`: JSONValue?
    /// For integer and number.
    public var minimum: Double?
    public var maximum: Double?
    /// The only values accepted, when given.
    public var allowedValues: [JSONValue]?
    /// For strings.
    public var maxLength: Int?

    public init(
        name: String, type: Kind, description: String? = nil, required: Bool = false, default: JSONValue? = nil,
        minimum: Double? = nil, maximum: Double? = nil, allowedValues: [JSONValue]? = nil, maxLength: Int? = nil
    ) {
        self.name = name
        self.type = type
        self.description = description
        self.required = required
        self.default = `default`
        self.minimum = minimum
        self.maximum = maximum
        self.allowedValues = allowedValues
        self.maxLength = maxLength
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        type = try c.decode(Kind.self, forKey: .type)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        required = try c.decodeIfPresent(Bool.self, forKey: .required) ?? false
        `default` = try c.decodeIfPresent(JSONValue.self, forKey: .default).flatMap { $0.isNull ? nil : $0 }
        minimum = try c.decodeIfPresent(Double.self, forKey: .minimum)
        maximum = try c.decodeIfPresent(Double.self, forKey: .maximum)
        allowedValues = try c.decodeIfPresent([JSONValue].self, forKey: .allowedValues)
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength)
    }

    func validate(field: String) -> [FieldError] {
        var errors: [FieldError] = []
        if let e = Validate.name(name, field: field + ".name") { errors.append(e) }
        if let minimum, let maximum, minimum > maximum {
            errors.append(FieldError(field: field + ".minimum", message: "must not be greater than maximum"))
        }
        if let maxLength, !(1...65536).contains(maxLength) {
            errors.append(FieldError(field: field + ".maxLength", message: "must be between 1 and 65536"))
        }
        for (i, value) in (allowedValues ?? []).enumerated() {
            if let problem = checkType(value) { errors.append(FieldError(field: "\(field).allowedValues[\(i)]", message: problem)) }
        }
        if let value = `default`, let problem = check(value) {
            errors.append(FieldError(field: field + ".default", message: problem))
        }
        return errors
    }

    /// Why `value` is not acceptable; nil when it is.
    public func check(_ value: JSONValue) -> String? {
        if let problem = checkType(value) { return problem }
        if let allowedValues, !allowedValues.contains(value) {
            return "must be one of " + allowedValues.map(Self.render).joined(separator: ", ")
        }
        if let number = value.doubleValue {
            if let minimum, number < minimum { return "must be at least \(Self.render(.number(minimum)))" }
            if let maximum, number > maximum { return "must be at most \(Self.render(.number(maximum)))" }
        }
        if let text = value.stringValue, let maxLength, text.count > maxLength {
            return "must be at most \(maxLength) characters"
        }
        return nil
    }

    func checkType(_ value: JSONValue) -> String? {
        switch type {
        case .string: value.stringValue == nil ? "must be a string" : nil
        case .integer: value.intValue == nil ? "must be an integer" : nil
        case .number: value.doubleValue == nil ? "must be a number" : nil
        case .boolean: value.boolValue == nil ? "must be true or false" : nil
        }
    }

    static func render(_ value: JSONValue) -> String {
        switch value {
        case .number(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .string(let s): "'\(s)'"
        case .bool(let b): String(b)
        default: "\(value)"
        }
    }
}

/// An instance's config, snapshotted at create from its template version and parameters (immutable).
public struct ResolvedInstanceConfig: Codable, Sendable, Hashable {
    public var resources: ClaimAmounts
    public var gpuModel: String?
    public var baseImageId: UUID?
    public var networkConfig: JSONValue?
    public var userData: String?
    public var console: GraphicsKind
    public var parameters: [String: JSONValue]
    /// Where it came from: the template version's id and number.
    public var templateVersionId: UUID?
    public var templateVersion: String?
    /// The exact image version the root disk is made from (its id and SHA-256), so that a re-create or an
    /// evacuation rebuilds from the same bits; nil for an instance without an image.
    public var image: ImageRef?
    /// The instance's NICs with the addresses IPAM gave them, in the order the guest sees them; nil or empty
    /// for an instance without networks.
    public var networks: [InstanceNetwork]?

    public init(
        resources: ClaimAmounts, gpuModel: String? = nil, baseImageId: UUID? = nil, networkConfig: JSONValue? = nil,
        userData: String? = nil, console: GraphicsKind = .vnc, parameters: [String: JSONValue] = [:],
        templateVersionId: UUID? = nil, templateVersion: String? = nil, image: ImageRef? = nil,
        networks: [InstanceNetwork]? = nil
    ) {
        self.networks = networks
        self.image = image
        self.resources = resources
        self.gpuModel = gpuModel
        self.baseImageId = baseImageId
        self.networkConfig = networkConfig
        self.userData = userData
        self.console = console
        self.parameters = parameters
        self.templateVersionId = templateVersionId
        self.templateVersion = templateVersion
    }
}

extension TemplateConfig: FieldRuleDeclaring {
    /// The sizes a template gives its instances, within what one machine offers (the same checks as `validate`).
    public static var fieldRules: [String: FieldRule] {
        ["cpuCores": .integer(cpuRange), "memoryGb": .integer(memoryRange), "storageGb": .integer(storageRange),
         "gpuCount": .integer(gpuRange), "gpuModel": .displayText(maxLength: 128), "userData": .length(0...maximumUserData),
         "parameters": .items(0...maximumParameters)]
    }
}

extension TemplateParameter: FieldRuleDeclaring {
    public static var fieldRules: [String: FieldRule] { ["name": .name, "maxLength": .integer(1...65_536)] }
}

import ArgumentParser
import Foundation
import ZedgeCoordinator
import ZedgeCore

/// `zedge-bench decode`: the cost of the coordinator's strict body decoding (`BodyDecoder`: duplicate names,
/// unknown fields at every depth, field rules) on agents' heartbeats, the body it decodes most, against the ceiling
/// of a plain `JSONDecoder` decode of the same bytes, timed `--runs` times (min, median and max). No I/O: this is
/// the CPU the rules add to each request, without the noise of a server run.
struct DecodeBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode", abstract: "Strict body decoding (BodyDecoder) against a plain JSONDecoder decode.")

    @Option(help: "Bodies decoded per case and run.") var bodies = 20_000
    @Option(help: "Timed runs per case (min, median and max are reported).") var runs = 5

    func run() throws {
        let cases: [(String, Data)] = try [
            ("heartbeat, 3 domains", Self.heartbeat(domains: 3)),
            ("heartbeat, 40 domains", Self.heartbeat(domains: 40)),
        ]
        print("Body decoding: \(bodies) bodies per case and run, \(runs) runs (release build recommended)")
        print("case                   | bytes | ceiling µs (JSONDecoder) | BodyDecoder µs (min / median / max) | ratio")
        for (name, data) in cases {
            // Both must succeed; an untimed pass each warms caches (the schema and rules are reflected once).
            _ = try ZedgeJSON.decoder().decode(HeartbeatRequest.self, from: data)
            _ = try BodyDecoder.decode(HeartbeatRequest.self, from: data)
            let ceiling = try measure { try ZedgeJSON.decoder().decode(HeartbeatRequest.self, from: data).observedVms.count }
            let strict = try measure { try BodyDecoder.decode(HeartbeatRequest.self, from: data).value.observedVms.count }
            print(name.padding(toLength: 22, withPad: " ", startingAt: 0)
                  + " | " + String(data.count).padding(toLength: 5, withPad: " ", startingAt: 0)
                  + " | " + String(format: "%24.2f", ceiling.median)
                  + " | " + String(format: "%.2f / %.2f / %.2f", strict.min, strict.median, strict.max)
                      .padding(toLength: 35, withPad: " ", startingAt: 0)
                  + " | " + String(format: "%.2f", strict.median / ceiling.median))
        }
        print("\nratio: BodyDecoder's median over the plain decode's, in the same run (1 = the strict checks cost nothing).")

        // The answer to each heartbeat: the API's response (`JSONResponse`: every key, nulls written, sorted keys)
        // against a plain `JSONEncoder` encode of the same value.
        let answer = HeartbeatResponse(heartbeatIntervalS: 30, serverTime: Date())
        let plain = JSONEncoder()
        let ceiling = try measure { try plain.encode(answer).count }
        let response = try measure { try JSONResponse.make(answer).body.contentLength ?? 0 }
        print("\nResponse encoding: \(bodies) responses per run, \(runs) runs")
        print("case                   | ceiling µs (JSONEncoder) | JSONResponse µs (min / median / max) | ratio")
        print("heartbeat response".padding(toLength: 22, withPad: " ", startingAt: 0)
              + " | " + String(format: "%24.2f", ceiling.median)
              + " | " + String(format: "%.2f / %.2f / %.2f", response.min, response.median, response.max)
                  .padding(toLength: 36, withPad: " ", startingAt: 0)
              + " | " + String(format: "%.2f", response.median / ceiling.median))

        // A vm.create task as every create moves it: its payload column read back into a `JSONValue`
        // (`JSONValue(parsing:)`, against a typed decode of the same text), and the long-poll's answer that carries it
        // (`JSONResponse`, against a plain `JSONEncoder` encode of the same value).
        let payload = Self.vmCreatePayload()
        let text = try ZedgeJSON.encoder().encode(payload)
        let typed = try measure { try ZedgeJSON.decoder().decode(VmCreatePayload.self, from: text).spec.vcpus }
        let parsed = try measure { try JSONValue(parsing: text)["spec"]?["vcpus"]?.intValue ?? 0 }
        let poll = TaskPollResponse(tasks: [TaskAssignment(id: UUID(), kind: .vmCreate, payload: try JSONValue(parsing: text),
                                                           attempt: 1, leaseExpiresAt: Date())])
        let pollPlain = try measure { try plain.encode(poll).count }
        let pollResponse = try measure { try JSONResponse.make(poll).body.contentLength ?? 0 }
        print("\nvm.create task (\(text.count) bytes of payload): \(bodies) per run, \(runs) runs")
        print("case                   | ceiling µs                       | Zedge µs (min / median / max)        | ratio")
        for (name, ceilingName, ceiling, zedge) in [("payload column read", "typed JSONDecoder", typed, parsed),
                                                     ("long-poll answer", "plain JSONEncoder", pollPlain, pollResponse)] {
            print(name.padding(toLength: 22, withPad: " ", startingAt: 0)
                  + " | " + (String(format: "%.2f ", ceiling.median) + ceilingName).padding(toLength: 32, withPad: " ", startingAt: 0)
                  + " | " + String(format: "%.2f / %.2f / %.2f", zedge.min, zedge.median, zedge.max)
                      .padding(toLength: 36, withPad: " ", startingAt: 0)
                  + " | " + String(format: "%.2f", zedge.median / ceiling.median))
        }
    }

    /// A vm.create payload as a create through the API queues it: a root disk, a NIC on the integration bridge.
    static func vmCreatePayload() -> VmCreatePayload {
        VmCreatePayload(spec: VmSpec(
            name: "zedge-\(UUID().uuidString.lowercased())", uuid: UUID(), vcpus: 2, memoryMiB: 4096,
            rootDisk: DiskSpec(source: .file(path: "/var/lib/zedge/instances/\(UUID().uuidString.lowercased()).qcow2"), target: "vda"),
            nics: [NicSpec(mac: "52:54:00:12:34:56", attachment: .bridge("br-int"))]), start: true)
    }

    /// A ComputeMachine's heartbeat (`SimulatedFleet.heartbeat`) reporting `domains` domains, each with an RBD disk.
    static func heartbeat(domains: Int) throws -> Data {
        let vms = (0..<domains).map { k in
            ObservedVm(vmUuid: UUID().uuidString.lowercased(), vmName: "instance-\(k)", state: k % 3 == 2 ? .shutOff : .running,
                       disks: [ObservedDisk(rbdPool: "zedge", image: "disk-\(k)", target: "vdb")])
        }
        return try ZedgeJSON.encoder().encode(SimulatedFleet.heartbeat(observedVms: vms))
    }

    /// Microseconds per body of `runs` timed runs.
    /// `runs` timings of `bodies` calls of `body`, in µs per call.
    func measure(_ body: () throws -> Int) throws -> Spread {
        let clock = ContinuousClock()
        var timings: [Double] = []
        var checksum = 0
        for _ in 0..<max(1, runs) {
            let elapsed = try clock.measure {
                for _ in 0..<bodies { checksum &+= try body() }
            }
            timings.append(elapsed.seconds * 1e6 / Double(bodies))
        }
        precondition(checksum > 0, "every body reports domains, every response has bytes")
        return Spread(values: timings)
    }
}

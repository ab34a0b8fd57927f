#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ZedgeCore

/// What a ComputeMachine's tasks use besides the hypervisor: the image cache, libvirt storage for root-disk
/// overlays, the cloud-init seed builder and the console logs, all under one state-dir `layout`.
public struct ComputeResources: Sendable {
    public let layout: AgentLayout
    public let images: ImageCache
    public let storage: LibvirtStorage
    public let seeds: CloudInitSeedBuilder
    public let consoleLog: ConsoleLog
    /// Blocking file reads (console-log tails) run here, off the cooperative pool.
    let io = BlockingQueue(label: "zedge.agent.compute-io")

    public init(layout: AgentLayout, images: ImageCache, storage: LibvirtStorage, seeds: CloudInitSeedBuilder? = nil,
                consoleLog: ConsoleLog? = nil) {
        self.layout = layout
        self.images = images
        self.storage = storage
        self.seeds = seeds ?? CloudInitSeedBuilder(layout: layout)
        self.consoleLog = consoleLog ?? ConsoleLog(layout: layout)
    }

    /// The images that must not be evicted: those recorded in domains' metadata, and those that overlay
    /// volumes of the agent's `pool` (`AgentLayout.diskPoolName`) are backed by (a backing file named by a SHA-256;
    /// libvirt is asked each time, so this holds across agent restarts and for an overlay whose domain is gone).
    public static func imagesInUse(hypervisor: LibvirtHypervisor, storage: LibvirtStorage, pool: String) async throws -> Set<String> {
        var used = try await hypervisor.rootImagesInUse()
        for path in try await storage.backingPaths(pool: pool) {
            let name = URL(fileURLWithPath: path).lastPathComponent
            if ImageRef.isSHA256Hex(name) { used.insert(name) }
        }
        return used
    }

    /// Runs `body` with `ref` fetched (if need be) and kept from eviction; while a download runs, reports
    /// `image.fetch.progress` every `progress.interval` with `{"sha256","bytesDone","bytesTotal"}`.
    public func withImage<T: Sendable>(_ ref: ImageRef, progress: TaskProgress?,
                                       _ body: @Sendable (ImageCache.Fetched) async throws -> T) async throws -> T {
        let images = self.images
        let fetched: ImageCache.Fetched = try await withThrowingTaskGroup(of: ImageCache.Fetched?.self) { group in
            group.addTask { try await images.acquire(ref) }
            if let progress {
                group.addTask {
                    while true {
                        try await Task.sleep(for: progress.interval)
                        if let p = await images.progress(of: ref.sha256) {
                            await progress("image.fetch.progress", [
                                "sha256": .string(ref.sha256), "bytesDone": .number(Double(p.doneBytes)),
                                "bytesTotal": .number(Double(p.totalBytes)),
                            ])
                        }
                    }
                }
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let next { return next }
            }
            throw CancellationError()
        }
        do {
            let result = try await body(fetched)
            await images.release(ref.sha256)
            return result
        } catch {
            await images.release(ref.sha256)
            throw error
        }
    }
}

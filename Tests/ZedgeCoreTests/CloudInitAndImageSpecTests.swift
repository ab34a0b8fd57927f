import Foundation
import Testing
import ZedgeCore

@Suite("cloud-init seed, user-data templates and root images")
struct CloudInitAndImageSpecTests {
    static let sha = String(repeating: "ab", count: 32)
    static let image = ImageRef(imageId: UUID(), versionId: UUID(), sha256: sha, sizeBytes: 13_000_000,
                                virtualSizeBytes: 17 << 20, format: .qcow2)

    @Test func parametersAreFilledIntoUserDataAndJinjaIsLeftAlone() {
        let text = """
            ## template: jinja
            #cloud-config
            hostname: {{ v1.local_hostname }}
            runcmd: [echo {{parameters.greeting}} {{ parameters.count }} {{ parameters.debug }} {{ parameters.missing }}]
            unterminated {{ parameters.greeting
            """
        let rendered = UserDataTemplate.render(text, parameters: ["greeting": "hi there", "count": 3, "debug": false])
        #expect(rendered == """
            ## template: jinja
            #cloud-config
            hostname: {{ v1.local_hostname }}
            runcmd: [echo hi there 3 false {{ parameters.missing }}]
            unterminated {{ parameters.greeting
            """)
    }

    @Test func hostnamesComeFromInstanceNames() {
        #expect(CloudInitSeed.hostname(fromInstanceName: "Web_1.prod", fallback: "x") == "web-1-prod")
        #expect(CloudInitSeed.hostname(fromInstanceName: "__", fallback: "i-1234") == "i-1234")
        #expect(CloudInitSeed.hostname(fromInstanceName: String(repeating: "a", count: 100), fallback: "x").count == 63)
    }

    @Test func seedDocumentsAndValidation() {
        let seed = CloudInitSeed(instanceId: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", localHostname: "web-1")
        #expect(seed.metaData == "instance-id: 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\nlocal-hostname: web-1\n")
        #expect(seed.userDataDocument.hasPrefix("#cloud-config"))
        #expect(seed.validate(field: "cloudInit").isEmpty)
        #expect(CloudInitSeed.dhcpOnFirstNic(mac: "52:54:00:AB:CD:EF").contains("macaddress: \"52:54:00:ab:cd:ef\""))
        #expect(CloudInitSeed.dhcpOnFirstNic(mac: nil).contains("dhcp4: true"))

        let hostile = CloudInitSeed(instanceId: "x\ninstance-id: other", localHostname: "a b",
                                    userData: String(repeating: "x", count: CloudInitSeed.maximumDocumentBytes + 1))
        #expect(Set(hostile.validate(field: "cloudInit").map(\.field))
            == ["cloudInit.instanceId", "cloudInit.localHostname", "cloudInit.userData"])
    }

    @Test func aRootImageNeedsAQcow2VolumeInTheDiskPool() {
        let volume = DiskSpec(source: .volume(pool: VmSpec.diskPool, name: VmSpec.rootVolumeName(vmName: "vm-1")), target: "vda")
        var spec = VmSpec(name: "vm-1", uuid: UUID(), vcpus: 1, memoryMiB: 256, rootDisk: volume,
                          rootImage: RootImageSpec(image: Self.image, sizeGb: 10))
        #expect(spec.validate().isEmpty)
        #expect(spec.rootImage?.capacityBytes == 10 << 30)

        spec.rootDisk = DiskSpec(source: .file(path: "/var/lib/x.qcow2"), target: "vda")
        #expect(spec.validate().map(\.field) == ["rootDisk.source"])

        spec.rootDisk = volume
        spec.rootImage?.image.sha256 = "ABC"
        spec.rootImage?.sizeGb = 0
        #expect(Set(spec.validate().map(\.field)) == ["rootImage.image.sha256", "rootImage.sizeGb"])
    }

    @Test func theOverlayIsNeverSmallerThanTheImage() {
        var big = Self.image
        big.virtualSizeBytes = 20 << 30
        #expect(RootImageSpec(image: big, sizeGb: 10).capacityBytes == 20 << 30)
    }

    @Test func specsRoundTripThroughJSON() throws {
        let spec = VmSpec(name: "vm-1", uuid: UUID(), vcpus: 1, memoryMiB: 256,
                          rootDisk: DiskSpec(source: .volume(pool: VmSpec.diskPool, name: "vm-1-root.qcow2"), target: "vda"),
                          rootImage: RootImageSpec(image: Self.image, sizeGb: 10),
                          cloudInit: CloudInitSeed(instanceId: "i-1", localHostname: "vm-1", userData: "#cloud-config\n{}\n"))
        let decoded = try ZedgeJSON.decoder().decode(VmSpec.self, from: try ZedgeJSON.encoder().encode(spec))
        #expect(decoded == spec)
        // An older spec without the new fields still decodes.
        let legacy = #"{"name":"vm-1","uuid":"\#(spec.uuid)","vcpus":1,"memoryMiB":256,"rootDisk":{"source":{"type":"file","path":"/x.qcow2"},"target":"vda"}}"#
        let old = try ZedgeJSON.decoder().decode(VmSpec.self, from: Data(legacy.utf8))
        #expect(old.rootImage == nil && old.cloudInit == nil)
    }
}

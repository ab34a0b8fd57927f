import CLibXML2

/// libxml2's process-wide state, set up once before any thread parses or validates XML.
///
/// libxml2 2.9.14 (Debian 12) fills its XML Schema datatype table and its Relax-NG type libraries lazily, on the
/// first use, without a lock. libvirt's test driver validates a domain against `domain.rng` in this process
/// (`VIR_DOMAIN_DEFINE_VALIDATE`), so two first defines on two threads can see a half-filled table and fail with
/// "Error type 'positiveInteger' is not exported by type library …" (seen in CI; reproduced at 3 in 600 runs of
/// eight threads defining at once, and 0 in 600 with this set-up done first). libxml2 ≥ 2.12 does this in
/// `xmlInitParser`; here it is done explicitly (libxml2's `xmlSchemaInitTypes`, `xmlRelaxNGInitTypes`).
enum LibXMLProcessState {
    /// Touch before the first parse or libvirt call: runs once per process (a Swift global's lazy initialiser is
    /// thread-safe).
    static let initialized: Void = {
        xmlInitParser()
        xmlSchemaInitTypes()
        _ = xmlRelaxNGInitTypes()
    }()
}

#pragma once
// libxml2, the parser libvirt itself uses: the agent reads libvirt's domain and pool XML with it directly.
// (FoundationXML is not used: it replaces libxml2's process-wide external entity loader with a hook that calls
// a NULL function when libvirt, in the same process, later reads an XML file — a crash seen in CI.)
//
// Debian builds libxml2 with ICU, so encoding.h includes ICU's headers, whose declarations clash with
// Foundation's own ICU module. Nothing here touches an encoding handler's fields (the only declarations that
// depend on it), so ICU is left out of this view of the headers.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/relaxng.h>
#include <libxml/xmlschemastypes.h>

// `xmlFree` is a process-wide function pointer (a mutable global to Swift): call it through a function.
static inline void zedge_xml_free(void *memory) { xmlFree(memory); }

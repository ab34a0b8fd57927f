#pragma once
/*
 * wslay (Debian's libwslay-dev): RFC 6455 WebSocket framing without I/O of its own. `CurlWebSocket` runs it over
 * a libcurl connect-only connection (Debian 12's libcurl 7.88 has no WebSocket support). wslay has no pkg-config
 * file, so the module links it by name. The event API takes C callbacks with a user-data pointer; nothing here is
 * variadic, so no wrappers are needed.
 */
#include <wslay/wslay.h>

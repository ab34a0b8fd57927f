#pragma once
#include <curl/curl.h>

/*
 * Typed wrappers for libcurl's variadic entry points.
 *
 * Swift cannot call C variadic functions, so curl_easy_setopt and curl_easy_getinfo are exposed here
 * once per argument type. Each wrapper passes its argument through unchanged; pick the one whose type
 * matches what the libcurl documentation says the option takes (long, char*, void*, curl_off_t, ...).
 * Callback types are spelled out so Swift sees them as @convention(c) function types.
 */

/* Write and header callbacks: (data, size, nmemb, userdata) -> bytes consumed. */
typedef size_t (*zedge_curl_data_callback)(char *data, size_t size, size_t nmemb, void *userdata);
/* Progress callback (CURLOPT_XFERINFOFUNCTION): return non-zero to abort the transfer. */
typedef int (*zedge_curl_xferinfo_callback)(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                                            curl_off_t ultotal, curl_off_t ulnow);

/* Options taking a long (flags, timeouts in ms, sizes, enums such as CURL_HTTP_VERSION_1_1). */
static inline CURLcode zedge_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

/* Options taking a curl_off_t (the *_LARGE size options). */
static inline CURLcode zedge_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/* Options taking a C string (libcurl copies it). NULL restores the option's default or clears it. */
static inline CURLcode zedge_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

/* Options taking an opaque pointer (CURLOPT_WRITEDATA, CURLOPT_HEADERDATA, CURLOPT_ERRORBUFFER, ...). */
static inline CURLcode zedge_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

/* Options taking a struct curl_slist* (CURLOPT_HTTPHEADER). The list must outlive the transfer. */
static inline CURLcode zedge_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *list) {
    return curl_easy_setopt(handle, option, list);
}

/* Options taking a struct curl_blob* (CURLOPT_CAINFO_BLOB). Set blob->flags = CURL_BLOB_COPY so that
 * libcurl keeps its own copy and the caller's bytes may go away after this call. */
static inline CURLcode zedge_curl_setopt_blob(CURL *handle, CURLoption option, struct curl_blob *blob) {
    return curl_easy_setopt(handle, option, blob);
}

/* CURLOPT_WRITEFUNCTION: receives the response body. Returning anything but size*nmemb aborts. */
static inline CURLcode zedge_curl_setopt_write_function(CURL *handle, zedge_curl_data_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

/* CURLOPT_READFUNCTION: fills the buffer with the next request body bytes (uploads); returns the count, 0 at the
 * end, or CURL_READFUNC_ABORT. */
static inline CURLcode zedge_curl_setopt_read_function(CURL *handle, zedge_curl_data_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_READFUNCTION, callback);
}

/* CURLOPT_HEADERFUNCTION: receives each response header line (status lines included, CRLF kept). */
static inline CURLcode zedge_curl_setopt_header_function(CURL *handle, zedge_curl_data_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, callback);
}

/* CURLOPT_XFERINFOFUNCTION (needs CURLOPT_NOPROGRESS = 0): used to cancel a running transfer. */
static inline CURLcode zedge_curl_setopt_xferinfo_function(CURL *handle, zedge_curl_xferinfo_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
}

/* curl_easy_getinfo for CURLINFO_LONG values (CURLINFO_RESPONSE_CODE, ...). */
static inline CURLcode zedge_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

/* curl_easy_getinfo for CURLINFO_OFF_T values (CURLINFO_SPEED_DOWNLOAD_T, CURLINFO_SIZE_DOWNLOAD_T, ...). */
static inline CURLcode zedge_curl_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

/* curl_easy_getinfo for CURLINFO_ACTIVESOCKET (connect-only transfers: the socket to poll). */
static inline CURLcode zedge_curl_getinfo_socket(CURL *handle, CURLINFO info, curl_socket_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

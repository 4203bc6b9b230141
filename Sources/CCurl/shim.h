#ifndef MCPFCGI_CCURL_SHIM_H
#define MCPFCGI_CCURL_SHIM_H
/* libcurl (Debian: libcurl4-openssl-dev) for RestrictedHTTPFetcher. curl_easy_setopt and curl_easy_getinfo are
   variadic, which Swift cannot call: these typed wrappers make the calls from C. */
#include <curl/curl.h>

static inline CURLcode mcpfcgi_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode mcpfcgi_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode mcpfcgi_curl_setopt_off(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode mcpfcgi_curl_setopt_write(CURL *handle, curl_write_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}
static inline CURLcode mcpfcgi_curl_setopt_opensocket(CURL *handle, curl_opensocket_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_OPENSOCKETFUNCTION, callback);
}
static inline CURLcode mcpfcgi_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
#endif

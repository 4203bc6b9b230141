#ifndef MCPFCGI_CFCGI_SHIM_H
#define MCPFCGI_CFCGI_SHIM_H
#include <fcgiapp.h>
/* The stream hub's event loop (Linux); Glibc's Swift module does not export these. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
/* libcurl for the restricted outgoing fetcher (RestrictedHTTPFetcher): the functions are looked up with dlsym
   (libcurl is already loaded by FoundationNetworking; no link-time dependency) and the variadic
   curl_easy_setopt/curl_easy_getinfo are called through these wrappers, so the C calling convention for
   variadic calls is used on every platform. */
typedef int (*mcpfcgi_curl_variadic_fn)(void *, int, ...);
static inline int mcpfcgi_curl_setopt_long(void *fn, void *handle, int option, long value) {
    return ((mcpfcgi_curl_variadic_fn)fn)(handle, option, value);
}
static inline int mcpfcgi_curl_setopt_pointer(void *fn, void *handle, int option, const void *value) {
    return ((mcpfcgi_curl_variadic_fn)fn)(handle, option, value);
}
static inline int mcpfcgi_curl_setopt_off(void *fn, void *handle, int option, long long value) {
    return ((mcpfcgi_curl_variadic_fn)fn)(handle, option, value);
}
static inline int mcpfcgi_curl_getinfo_long(void *fn, void *handle, int info, long *value) {
    return ((mcpfcgi_curl_variadic_fn)fn)(handle, info, value);
}
/* struct curl_sockaddr (CURLOPT_OPENSOCKETFUNCTION): addr is a struct sockaddr (sockaddr_in6 runs past it). */
struct mcpfcgi_curl_sockaddr {
    int family;
    int socktype;
    int protocol;
    unsigned int addrlen;
    unsigned char addr[16];
};
#endif

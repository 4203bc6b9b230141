#ifndef MCPFCGI_CFCGI_SHIM_H
#define MCPFCGI_CFCGI_SHIM_H
#include <fcgiapp.h>
/* The stream hub's event loop (Linux); Glibc's Swift module does not export these. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif

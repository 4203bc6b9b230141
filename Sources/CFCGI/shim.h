#ifndef MCPFCGI_CFCGI_SHIM_H
#define MCPFCGI_CFCGI_SHIM_H
#include <fcgiapp.h>
#endif

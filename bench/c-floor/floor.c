/*
 * The FastCGI floor: the least a libfcgi application can do for one MCP tools/call.
 * N accept threads call FCGX_Accept_r on the same socket without a mutex (as the Swift worker does),
 * read the whole POST body, find the JSON-RPC "id" and answer the same JSON (and the same header
 * fields) an MCPFCGI `echo` tools/call answers. No JSON parsing, no sessions: a lower bound.
 *
 * Two connection modes (second argument), both run behind nginx's `fastcgi_keep_conn on`:
 *   close  (default) a connection per request: every connection is closed after its request, even when
 *          nginx asks to keep it (FCGI_KEEP_CONN), as the Swift worker does with MCPFCGI_KEEP_CONNECTIONS=0.
 *   kept   honours FCGI_KEEP_CONN: the connection stays open for nginx's next request once this one's
 *          STDIN has been read to its end (a kept connection must not carry unread records into the next
 *          request; a body that was not read whole closes the connection instead). libfcgi is blocking: the
 *          thread that accepted a kept connection stays in FCGX_Accept_r reading it until nginx closes it, so
 *          this mode needs as many threads as nginx holds upstream connections (or it stalls).
 *
 * Build: gcc -O2 -pthread -o floor floor.c -lfcgi     Run: spawn-fcgi -s sock -- ./floor [threads] [close|kept]
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (64 * 1024)

static int keep_connections; /* 1: "kept" mode */

static const char *find_id(const char *body, size_t len, size_t *id_len) {
    /* The value after "id": — a number or a quoted string (enough for well-formed requests). */
    const char *end = body + len;
    for (const char *p = body; p + 4 < end; p++) {
        if (memcmp(p, "\"id\"", 4) != 0) continue;
        const char *q = p + 4;
        while (q < end && (*q == ' ' || *q == ':')) q++;
        const char *s = q;
        if (q < end && *q == '"') {
            q++;
            while (q < end && *q != '"') q++;
            if (q < end) q++;
        } else {
            while (q < end && *q != ',' && *q != '}' && *q != ' ') q++;
        }
        *id_len = (size_t)(q - s);
        return *id_len ? s : NULL;
    }
    return NULL;
}

static void *serve(void *arg) {
    (void)arg;
    FCGX_Request req;
    char *body = malloc(BODY_MAX + 1);
    FCGX_InitRequest(&req, 0, 0);
    while (FCGX_Accept_r(&req) >= 0) {
        const char *cl = FCGX_GetParam("CONTENT_LENGTH", req.envp);
        long declared = cl ? strtol(cl, NULL, 10) : 0;
        if (declared < 0) declared = 0;
        long want = declared > BODY_MAX ? BODY_MAX : declared;
        int got = 0;
        while (got < want) {
            int n = FCGX_GetStr(body + got, (int)(want - got), req.in);
            if (n <= 0) break;
            got += n;
        }
        if (!keep_connections) {
            /* A connection per request: closed by FCGX_Finish_r whatever nginx asked for. */
            req.keepConnection = 0;
        } else if (got == declared) {
            /* Kept: read STDIN to its end (the empty record), so nothing of this request is left unread on
             * the connection when nginx sends the next one on it. */
            while (FCGX_GetChar(req.in) != EOF) {}
        } else {
            /* The body was not read whole (larger than BODY_MAX, or cut short): close rather than keep. */
            req.keepConnection = 0;
        }
        body[got] = 0;
        size_t id_len = 0;
        const char *id = find_id(body, (size_t)got, &id_len);
        char out[512];
        int n = snprintf(out, sizeof out,
                         "{\"result\":{\"content\":[{\"text\":\"hello\",\"type\":\"text\"}]},\"id\":%.*s,\"jsonrpc\":\"2.0\"}",
                         (int)(id ? id_len : 4), id ? id : "null");
        FCGX_FPrintF(req.out,
                     "Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
                     "Content-Length: %d\r\n\r\n", n);
        FCGX_PutStr(out, n, req.out);
        /* As the Swift worker does: the records are still written by FCGX_Finish_r, but the connection
         * (a unix socket), whenever it is closed, is closed with a plain close() instead of libfcgi's
         * lingering close. A kept connection stays open: FCGX_Finish_r closes only when keepConnection is 0
         * (or a stream saw an error), and the next FCGX_Accept_r reads the next request from it. */
        req.detached = 1;
        FCGX_Finish_r(&req);
    }
    free(body);
    return NULL;
}

/* libfcgi's own SIGTERM handler only sets a flag that threads blocked in accept() never see. */
static void on_term(int sig) { (void)sig; _exit(0); }

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    if (threads < 1) threads = 1;
    const char *mode = argc > 2 ? argv[2] : "close";
    if (strcmp(mode, "kept") == 0) {
        keep_connections = 1;
    } else if (strcmp(mode, "close") != 0) {
        fprintf(stderr, "usage: %s [threads] [close|kept]\n", argv[0]);
        return 2;
    }
    if (FCGX_Init() != 0) return 1;
    signal(SIGTERM, on_term);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    for (int i = 1; i < threads; i++) pthread_create(&tids[i], NULL, serve, NULL);
    serve(NULL); /* the main thread is the first of the N */
    for (int i = 1; i < threads; i++) pthread_join(tids[i], NULL);
    return 0;
}

"""Raw asyncio HTTP/1.1 helper of the benchmark (no dependencies beyond the standard library).

  sessions --host H --port P --path /mcp --count N [--concurrency C] [--out FILE]
      creates N initialized sessions (initialize + notifications/initialized) over C keep-alive
      connections and writes their ids, one per line, to FILE.
      --bearer TOKEN sends "Authorization: Bearer TOKEN" with every request.
  token --host H --port P --resource URL --scope S
      gets an access token for URL with grant client_credentials as a pre-provisioned confidential client
      (--client-id, --client-secret; client_secret_basic)
      at /oauth/token and prints it.
  hold --host H --port P --path /mcp --streams N --per-session K [--concurrency C]
      creates ceil(N/K) sessions, opens N idle GET SSE streams (K per session), prints
      "READY opened=N failed=F" and holds them until SIGTERM (at most --max-hold seconds), then prints
      "CLOSED dropped=D" (streams the server closed while held).
Exit status 1 when any request fails.
"""

import argparse
import asyncio
import base64
import json
import signal
import sys
import urllib.parse
import urllib.request

VERSION = "2025-11-25"


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return status, headers, body


def post(host, port, path, body, session=None, bearer=None):
    extra = f"Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: {VERSION}\r\n" if session else ""
    if bearer:
        extra += f"Authorization: Bearer {bearer}\r\n"
    data = body.encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\n{extra}Content-Length: {len(data)}\r\n\r\n"
    ).encode() + data


INIT = (
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"%s",'
    '"capabilities":{},"clientInfo":{"name":"bench","version":"1.0"}}}' % VERSION
)
INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}'


async def make_sessions(a, count):
    ids = []
    errors = []

    async def conn(share):
        # nginx closes a keep-alive connection after keepalive_requests (1000): reconnect when told.
        reader = writer = None
        try:
            for _ in range(share):
                sid = None
                for body in (INIT, INITIALIZED):
                    if writer is None:
                        reader, writer = await asyncio.open_connection(a.host, a.port)
                    writer.write(post(a.host, a.port, a.path, body, sid, a.bearer))
                    status, headers, answer = await read_response(reader)
                    if headers.get("connection", "").lower() == "close":
                        writer.close()
                        reader = writer = None
                    if body is INIT:
                        sid = headers.get("mcp-session-id")
                        if status != 200 or not sid or b'"error"' in answer:
                            errors.append(f"initialize: {status} {answer[:200]!r}")
                            return
                    elif status != 202:
                        errors.append(f"notifications/initialized: {status} {answer[:200]!r}")
                        return
                ids.append(sid)
        finally:
            if writer is not None:
                writer.close()

    c = max(1, min(a.concurrency, count))
    shares = [count // c + (1 if i < count % c else 0) for i in range(c)]
    await asyncio.gather(*(conn(s) for s in shares if s))
    if errors:
        print("session set-up failed: " + errors[0], file=sys.stderr)
        sys.exit(1)
    return ids


def token(a):
    """A client_credentials token for a pre-provisioned confidential client (open registration creates none)."""
    base = f"http://{a.host}:{a.port}"
    client = {"client_id": a.client_id, "client_secret": a.client_secret}
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "resource": a.resource, "scope": a.scope}
    ).encode()
    request = urllib.request.Request(
        base + "/oauth/token",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        tokens = json.load(answer)
    if tokens.get("token_type", "").lower() != "bearer" or not tokens.get("access_token"):
        print(f"unexpected token answer: {tokens!r}", file=sys.stderr)
        return 1
    print(tokens["access_token"])
    return 0


async def hold(a):
    per = max(1, a.per_session)
    sessions = await make_sessions(a, (a.streams + per - 1) // per)
    opened, failed, dropped = [], [], [0]
    sem = asyncio.Semaphore(a.concurrency)

    async def drain(reader):
        try:
            while await reader.read(4096):
                pass
        except (ConnectionError, asyncio.CancelledError):
            pass
        dropped[0] += 1

    async def open_stream(i):
        sid = sessions[i // per]
        async with sem:
            try:
                reader, writer = await asyncio.open_connection(a.host, a.port)
                writer.write(
                    (
                        f"GET {a.path} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\nAccept: text/event-stream\r\n"
                        f"Mcp-Session-Id: {sid}\r\nMCP-Protocol-Version: {VERSION}\r\n\r\n"
                    ).encode()
                )
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                if b" 200 " not in head.split(b"\r\n", 1)[0] or b"text/event-stream" not in head:
                    failed.append(head[:200])
                    writer.close()
                    return
                opened.append((writer, asyncio.ensure_future(drain(reader))))
            except Exception as e:  # noqa: BLE001 - reported as a failed stream
                failed.append(repr(e))

    await asyncio.gather(*(open_stream(i) for i in range(a.streams)))
    print(f"READY opened={len(opened)} failed={len(failed)}", flush=True)
    if failed:
        print(f"first failure: {failed[0]!r}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), a.max_hold)
    except TimeoutError:
        pass
    dropped_while_held = dropped[0]
    for writer, task in opened:
        task.cancel()
        writer.close()
    print(f"CLOSED dropped={dropped_while_held}", flush=True)
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["sessions", "hold", "token"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/mcp")
    p.add_argument("--count", type=int, default=32)
    p.add_argument("--out")
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--per-session", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--max-hold", type=float, default=120)
    p.add_argument("--bearer")
    p.add_argument("--resource")
    p.add_argument("--scope", default="mcp:read")
    p.add_argument("--client-id", default="bench")
    p.add_argument("--client-secret")
    a = p.parse_args()
    if a.mode == "sessions":
        ids = asyncio.run(make_sessions(a, a.count))
        if a.out:
            with open(a.out, "w") as f:
                f.write("".join(i + "\n" for i in ids))
        print(f"sessions={len(ids)}")
        return 0
    if a.mode == "token":
        return token(a)
    return asyncio.run(hold(a))


if __name__ == "__main__":
    sys.exit(main())

"""The production systemd deployment (deploy/systemd/), checked without a running systemd.

* install.sh renders units, settings, keys and the nginx site into a temporary DESTDIR, idempotently.
* ``systemd-analyze verify`` accepts the units without a warning; ``systemd-analyze security --offline``
  rates the service; the hardening settings are present.
* ``nginx -t`` accepts the site file (inside a minimal main configuration) and deploy/run.sh's full
  configuration, both rendered from the same template.
* The worker under the socket-activation contract (only with a demo binary): the harness does what
  systemd does for mcpfcgi@.socket/.service — binds each worker's unix socket, passes it as fd 0 to the
  unit's ExecStart with the unit's environment, with MemoryDenyWriteExecute= and
  RestrictAddressFamilies= emulated by the same seccomp rules — and checks /health and /management over
  FastCGI, that a request sent while the worker restarts is served by the next process, and (with strace)
  that every system call it makes is in SystemCallFilter=@system-service. The binary is
  .build/release/mcp-fcgi-demo, or MCPFCGI_DEMO_BINARY=<path>.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fcgiclient import fastcgi_request  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "deploy" / "systemd" / "install.sh"
RENDER_NGINX = ROOT / "deploy" / "render-nginx.sh"
BINARY = Path(os.environ.get("MCPFCGI_DEMO_BINARY") or ROOT / ".build" / "release" / "mcp-fcgi-demo")
WORKERS = 3
TOKEN = "systemd-test-token"
METRICS_TOKEN = "systemd-metrics-token-0123456789"
METRICS_ALLOW = "127.0.0.1 10.1.2.0/24"
MANAGEMENT_ALLOW = "127.0.0.1 10.9.8.7"
PUBLIC_URL = "https://mcp.example.test"
SOCKET_DIR = "/run/mcpfcgi"
CONF_DIR = "/etc/mcpfcgi"
UNITS = ["mcpfcgi@.socket", "mcpfcgi@.service", "mcpfcgi.target", "mcpfcgi-alert@.service"]

needs_systemd_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                           reason="systemd-analyze missing (apt-get install systemd)")
needs_nginx = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx missing")
needs_binary = pytest.mark.skipif(not BINARY.is_file(), reason=f"no demo binary at {BINARY}")


# -- rendering ---------------------------------------------------------------------------------------------

def run_install(dest: Path, bin_path: Path, **variables: str) -> subprocess.CompletedProcess:
    """install.sh into DESTDIR=dest, with a clean environment (no HOST/PORT of the caller leaks in)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
           "DESTDIR": str(dest), "BIN": str(bin_path)}
    env.update(variables)
    return subprocess.run(["bash", str(INSTALL)], env=env, capture_output=True, text=True, timeout=120)


def default_variables() -> dict[str, str]:
    return {"PUBLIC_URL": PUBLIC_URL, "WORKERS": str(WORKERS), "AUTH": "builtin",
            "MANAGEMENT_TOKEN": TOKEN, "HOST": "127.0.0.1", "PORT": "8080", "TLS_PORT": "8443",
            "METRICS_TOKEN": METRICS_TOKEN, "METRICS_ALLOW": METRICS_ALLOW, "MANAGEMENT_ALLOW": MANAGEMENT_ALLOW}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """DESTDIR with everything install.sh renders for 3 workers, AUTH=builtin, a management and a metrics token."""
    base = tmp_path_factory.mktemp("systemd")
    dest = base / "dest"
    # ExecStart must name an existing executable for systemd-analyze verify.
    bin_path = BINARY if BINARY.is_file() else base / "mcp-fcgi-demo"
    if not BINARY.is_file():
        bin_path.write_text("#!/bin/sh\nexit 0\n")
        bin_path.chmod(0o755)
    out = run_install(dest, bin_path, **default_variables())
    assert out.returncode == 0, f"install.sh failed:\n{out.stdout}\n{out.stderr}"
    (base / "install.out").write_text(out.stdout + out.stderr)
    return dest


def units_dir(dest: Path) -> Path:
    return dest / "etc" / "systemd" / "system"


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections → key → values (a key may repeat), comments and blank lines dropped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"{path}: setting outside a section: {raw}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def parse_env_file(path: Path) -> dict[str, str]:
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"bad line in {path}: {raw}"
        env[key] = value
    return env


def one(section: dict[str, list[str]], key: str) -> str:
    values = section.get(key)
    assert values and len(values) == 1, f"{key}: {values}"
    return values[0]


def snapshot(dest: Path) -> dict[str, bytes | str]:
    files: dict[str, bytes | str] = {}
    for p in sorted(dest.rglob("*")):
        rel = str(p.relative_to(dest))
        if p.is_symlink():
            files[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            files[rel] = p.read_bytes()
            files[rel + " mode"] = oct(p.stat().st_mode & 0o7777)
    return files


def test_install_renders_every_file(rendered):
    d = rendered
    for unit in UNITS:
        text = (units_dir(d) / unit).read_text()
        assert "@@" not in text, f"placeholder left in {unit}"
    wants = units_dir(d) / "mcpfcgi.target.wants"
    assert sorted(p.name for p in wants.iterdir()) == sorted(
        f"mcpfcgi@{i}.{kind}" for i in range(1, WORKERS + 1) for kind in ("socket", "service"))
    assert os.readlink(wants / "mcpfcgi@2.service") == "/etc/systemd/system/mcpfcgi@.service"
    conf = d / CONF_DIR.lstrip("/")
    assert conf.stat().st_mode & 0o777 == 0o750
    for name, size in (("request-state.key", 32), ("oauth-signing-key.pem", None), ("mcpfcgi.env", None),
                       ("metrics-token", None)):
        f = conf / name
        assert f.stat().st_mode & 0o777 == 0o640, name
        if size:
            assert f.stat().st_size == size
    assert b"BEGIN PRIVATE KEY" in (conf / "oauth-signing-key.pem").read_bytes()
    assert (conf / "tls" / "selfsigned.key").stat().st_mode & 0o777 == 0o600
    env = parse_env_file(conf / "mcpfcgi.env")
    assert env["MCPFCGI_PUBLIC_URL"] == PUBLIC_URL
    assert env["MCPFCGI_AUTH"] == "builtin"
    assert env["MCPFCGI_OAUTH_KEY_FILE"] == f"{CONF_DIR}/oauth-signing-key.pem"
    assert env["MCPFCGI_REQUEST_STATE_KEY_FILE"] == f"{CONF_DIR}/request-state.key"
    assert env["MCPFCGI_MANAGEMENT_TOKEN"] == TOKEN
    # The metrics token is a file of the workers' group (0640, checked above), not a value in the settings.
    assert env["MCPFCGI_METRICS_TOKEN_FILE"] == f"{CONF_DIR}/metrics-token"
    assert (conf / "metrics-token").read_text().strip() == METRICS_TOKEN
    assert "MCPFCGI_METRICS_TOKEN" not in env and METRICS_TOKEN not in (conf / "mcpfcgi.env").read_text()
    assert not any(k.startswith("OTEL_") for k in env)  # no tracing unless asked for
    assert env["MCPFCGI_PEER_SOCKETS"] == ",".join(f"{SOCKET_DIR}/w{i}.sock" for i in range(1, WORKERS + 1))
    # The socket belongs to systemd: a draining worker must never unlink it, nor bind one of its own.
    assert "MCPFCGI_EXCLUSIVE_SOCKET" not in env and "MCPFCGI_SOCKET" not in env
    assert "MCPFCGI_NODE_ID" not in env  # per instance, from the unit
    site = d / "etc" / "nginx" / "conf.d" / "mcpfcgi.conf"
    assert "upstream mcp_w3 { server unix:/run/mcpfcgi/w3.sock; keepalive 16; }" in site.read_text()
    # The workers keep what nginx may keep: 16 per upstream (at most WORKERS + 2 hold a worker) and nginx worker (one
    # per core).
    cores = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout)
    assert env["MCPFCGI_KEEP_CONNECTIONS"] == str(max(256, 16 * (WORKERS + 2) * cores))
    assert (d / "etc" / "nginx" / "snippets" / "mcpfcgi_fastcgi.conf").read_text() == \
        (ROOT / "deploy" / "mcp_fastcgi.conf").read_text()
    htpasswd = d / "etc" / "nginx" / "mcpfcgi.htpasswd"
    assert htpasswd.read_text().startswith("admin:$apr1$") and htpasswd.stat().st_mode & 0o777 == 0o640


def test_install_is_idempotent_and_keeps_settings(tmp_path):
    bin_path = tmp_path / "bin"
    bin_path.write_text("#!/bin/sh\n")
    bin_path.chmod(0o755)
    dest = tmp_path / "dest"
    first = run_install(dest, bin_path, **default_variables())
    assert first.returncode == 0, first.stderr
    assert "OAuth login" in first.stdout and "systemctl enable --now mcpfcgi.target" in first.stdout
    before = snapshot(dest)
    again = run_install(dest, bin_path, **default_variables())
    assert again.returncode == 0, again.stderr
    assert snapshot(dest) == before, "a second run with the same variables changed files"
    assert "OAuth login" not in again.stdout  # the htpasswd (and its password) is made once
    # A run that sets only WORKERS keeps the saved settings and disables the dropped instance.
    fewer = run_install(dest, bin_path, WORKERS="2")
    assert fewer.returncode == 0, fewer.stderr
    after = snapshot(dest)
    for key in ("etc/mcpfcgi/request-state.key", "etc/mcpfcgi/oauth-signing-key.pem", "etc/nginx/mcpfcgi.htpasswd"):
        assert after[key] == before[key], f"{key} was regenerated"
    env = parse_env_file(dest / "etc" / "mcpfcgi" / "mcpfcgi.env")
    assert env["MCPFCGI_PUBLIC_URL"] == PUBLIC_URL and env["MCPFCGI_MANAGEMENT_TOKEN"] == TOKEN
    assert env["MCPFCGI_METRICS_TOKEN_FILE"] == f"{CONF_DIR}/metrics-token"
    assert after["etc/mcpfcgi/metrics-token"] == before["etc/mcpfcgi/metrics-token"]
    assert "allow 10.1.2.0/24;" in (dest / "etc" / "nginx" / "conf.d" / "mcpfcgi.conf").read_text()
    assert "allow 10.9.8.7;" in (dest / "etc" / "nginx" / "conf.d" / "mcpfcgi.conf").read_text()
    assert env["MCPFCGI_PEER_SOCKETS"] == f"{SOCKET_DIR}/w1.sock,{SOCKET_DIR}/w2.sock"
    wants = sorted(p.name for p in (units_dir(dest) / "mcpfcgi.target.wants").iterdir())
    assert wants == ["mcpfcgi@1.service", "mcpfcgi@1.socket", "mcpfcgi@2.service", "mcpfcgi@2.socket"]
    assert "systemctl stop mcpfcgi@3.socket mcpfcgi@3.service" in fewer.stdout


def test_install_refuses_bad_values(tmp_path):
    bin_path = tmp_path / "bin"
    bin_path.write_text("#!/bin/sh\n")
    for bad in ({"WORKERS": "0"}, {"AUTH": "external"}, {"PUBLIC_URL": "mcp.example.test"},
                {"MANAGEMENT_TOKEN": "has space"}, {"APP_USER": "Bad User"},
                {"METRICS_TOKEN": "has space and is long enough"}, {"METRICS_TOKEN": "short-token"},
                {"METRICS_ALLOW": "prometheus.example.test"}, {"MANAGEMENT_ALLOW": "admin.example.test"},
                {"OTEL_SERVICE_NAME": 'quoted"name'},
                {"OTEL_RESOURCE_ATTRIBUTES": "a=1\nMCPFCGI_AUTH=anonymous"}):
        out = run_install(tmp_path / "dest", bin_path, **{**default_variables(), **bad})
        assert out.returncode != 0, bad
        assert not (tmp_path / "dest" / "etc" / "systemd").exists(), f"{bad}: rendered despite the error"
        assert next(iter(bad)) in out.stderr, out.stderr  # the message names the variable


def test_tracing_and_metrics_settings_pass_through(tmp_path):
    """OTEL_* variables reach the workers' settings unchanged (and open the network to the collector); a
    variable set empty drops its setting, as METRICS_TOKEN= turns metrics off and removes the token file."""
    bin_path = tmp_path / "bin"
    bin_path.write_text("#!/bin/sh\n")
    dest = tmp_path / "dest"
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.example.test:4318",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_SERVICE_NAME": "mcp-production",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer abc,x-tenant=$team#1"}
    out = run_install(dest, bin_path, **default_variables(), **otel)
    assert out.returncode == 0, out.stderr
    conf = dest / CONF_DIR.lstrip("/")
    env = parse_env_file(conf / "mcpfcgi.env")
    assert {k: v for k, v in env.items() if k.startswith("OTEL_")} == otel
    s = parse_unit(units_dir(dest) / "mcpfcgi@.service")["Service"]
    assert one(s, "RestrictAddressFamilies") == "AF_UNIX AF_INET AF_INET6" and one(s, "PrivateNetwork") == "no"
    # A later run keeps them (saved settings); an empty one is dropped, the others stay.
    again = run_install(dest, bin_path, OTEL_SERVICE_NAME="", METRICS_TOKEN="")
    assert again.returncode == 0, again.stderr
    env = parse_env_file(conf / "mcpfcgi.env")
    assert {k: v for k, v in env.items() if k.startswith("OTEL_")} == {
        k: v for k, v in otel.items() if k != "OTEL_SERVICE_NAME"}
    assert "MCPFCGI_METRICS_TOKEN_FILE" not in env and not (conf / "metrics-token").exists()
    # Without an endpoint, the sandbox closes again.
    off = run_install(dest, bin_path, OTEL_EXPORTER_OTLP_ENDPOINT="")
    assert off.returncode == 0, off.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in parse_env_file(conf / "mcpfcgi.env")
    s = parse_unit(units_dir(dest) / "mcpfcgi@.service")["Service"]
    assert one(s, "RestrictAddressFamilies") == "AF_UNIX" and one(s, "PrivateNetwork") == "yes"


# -- systemd -----------------------------------------------------------------------------------------------

@needs_systemd_analyze
def test_systemd_analyze_verify(rendered):
    """Every unit (templates through instances, the target with its wants, the alert) loads cleanly."""
    env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{units_dir(rendered)}:")  # ":" keeps the built-in paths
    names = ["mcpfcgi.target", "mcpfcgi@1.socket", "mcpfcgi@1.service", f"mcpfcgi@{WORKERS}.service",
             "mcpfcgi-alert@mcpfcgi@1.service.service"]
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], env=env, capture_output=True,
                         text=True, timeout=120, cwd=rendered)
    output = out.stdout + out.stderr
    assert out.returncode == 0, output
    about_us = [line for line in output.splitlines() if "mcpfcgi" in line or str(rendered) in line]
    assert not about_us, "systemd-analyze verify warned:\n" + "\n".join(about_us)


@needs_systemd_analyze
def test_systemd_analyze_verify_catches_mistakes(rendered, tmp_path):
    """The check above is not vacuous: a bad setting in the rendered service is reported."""
    broken = tmp_path / "units"
    shutil.copytree(units_dir(rendered), broken, symlinks=True)
    service = broken / "mcpfcgi@.service"
    service.write_text(service.read_text().replace("ProtectSystem=strict", "ProtectSystem=stricter"))
    env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{broken}:")
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", "mcpfcgi@1.service"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert "stricter" in out.stdout + out.stderr


@needs_systemd_analyze
def test_systemd_analyze_security(rendered):
    """systemd's own exposure rating of the worker service: at most 2.0 ("OK"; it rates 0.8, "SAFE")."""
    env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{units_dir(rendered)}:")
    out = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=20", "--no-pager",
                          str(units_dir(rendered) / "mcpfcgi@.service")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_socket_unit(rendered):
    unit = parse_unit(units_dir(rendered) / "mcpfcgi@.socket")
    s = unit["Socket"]
    assert one(s, "ListenStream") == f"{SOCKET_DIR}/w%i.sock"
    assert one(s, "Accept") == "no"
    assert one(s, "SocketUser") == "mcpfcgi"
    assert one(s, "SocketGroup") == "www-data"  # nginx's group: nginx connects, yet cannot read /etc/mcpfcgi
    assert one(s, "SocketMode") == "0660"
    assert one(s, "RemoveOnStop") == "yes"
    assert int(one(s, "Backlog")) >= 1024
    assert one(unit["Unit"], "PartOf") == "mcpfcgi.target"
    assert one(unit["Install"], "WantedBy") == "mcpfcgi.target"


def test_service_unit_settings_and_hardening(rendered):
    unit = parse_unit(units_dir(rendered) / "mcpfcgi@.service")
    u, s = unit["Unit"], unit["Service"]
    assert one(u, "Requires") == "mcpfcgi@%i.socket" and one(u, "After") == "mcpfcgi@%i.socket"
    assert one(u, "PartOf") == "mcpfcgi.target"
    assert int(one(u, "StartLimitBurst")) > 1 and int(one(u, "StartLimitIntervalSec")) > 0
    assert one(u, "OnFailure") == "mcpfcgi-alert@%n.service"
    assert one(s, "StandardInput") == "socket"
    assert one(s, "StandardOutput") == "journal" and one(s, "StandardError") == "journal"
    assert one(s, "Restart") == "always"
    assert 0 < float(one(s, "RestartSec")) <= 5
    assert one(s, "KillSignal") == "SIGTERM"
    env = parse_env_file(rendered / "etc" / "mcpfcgi" / "mcpfcgi.env")
    assert int(one(s, "TimeoutStopSec")) > int(env["MCPFCGI_DRAIN_TIMEOUT"])
    assert one(s, "Environment") == "MCPFCGI_NODE_ID=w%i"
    assert one(s, "EnvironmentFile") == f"{CONF_DIR}/mcpfcgi.env"
    assert "MCPFCGI_EXCLUSIVE_SOCKET" in one(s, "UnsetEnvironment").split()
    assert one(s, "User") == "mcpfcgi" and one(s, "Group") == "mcpfcgi"
    expected = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes", "RestrictAddressFamilies": "AF_UNIX", "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native", "PrivateNetwork": "yes",
        "RestrictNamespaces": "yes", "RestrictSUIDSGID": "yes", "CapabilityBoundingSet": "",
        "SystemCallFilter": "@system-service",
    }
    for key, value in expected.items():
        assert one(s, key) == value, key
    # The worker writes nothing: no writable path is opened up.
    assert "ReadWritePaths" not in s
    assert one(unit["Install"], "WantedBy") == "mcpfcgi.target"


def test_outbound_network_variant(tmp_path):
    bin_path = tmp_path / "bin"
    bin_path.write_text("#!/bin/sh\n")
    out = run_install(tmp_path / "dest", bin_path, **{**default_variables(), "OUTBOUND_NETWORK": "1"})
    assert out.returncode == 0, out.stderr
    s = parse_unit(units_dir(tmp_path / "dest") / "mcpfcgi@.service")["Service"]
    assert one(s, "RestrictAddressFamilies") == "AF_UNIX AF_INET AF_INET6"
    assert one(s, "PrivateNetwork") == "no"


# -- nginx -------------------------------------------------------------------------------------------------

def nginx_check(tmp: Path, config: Path) -> None:
    out = subprocess.run(["nginx", "-t", "-p", str(tmp), "-c", str(config)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, f"nginx -t failed:\n{out.stderr}\n--- {config}:\n{config.read_text()}"


@needs_nginx
def test_nginx_site_file(rendered, tmp_path):
    """The conf.d site, inside a minimal main configuration as Debian's nginx.conf includes conf.d/*.conf;
    the files it names (/etc/nginx/snippets/…, /etc/mcpfcgi/tls/…, /var/log/mcpfcgi/…) are taken from DESTDIR."""
    site = (rendered / "etc" / "nginx" / "conf.d" / "mcpfcgi.conf").read_text()
    assert "daemon" not in site and "pid " not in site and "events" not in site  # http level only
    rerooted = re.sub(r"(?<![\w/])((?:/etc/(?:nginx/snippets/mcpfcgi|nginx/mcpfcgi\.|mcpfcgi/)|/var/log/mcpfcgi/)[^;\s]*)",
                      lambda m: str(rendered) + m.group(1), site)
    (tmp_path / "mcpfcgi.conf").write_text(rerooted)
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (tmp_path / d).mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(f"""pid {tmp_path}/nginx.pid;
error_log stderr;
events {{ }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/client_body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include /etc/nginx/mime.types;
    include {tmp_path}/mcpfcgi.conf;
}}
""")
    nginx_check(tmp_path, main)
    assert "server_name mcp.example.test localhost 127.0.0.1 [::1];" in site
    # The catch-all server (any other Host: 421) comes first on the listeners, without default_server, which
    # would clash with Debian's default site.
    assert site.index("server_name _;") < site.index("server_name mcp.example.test")
    assert not re.search(r"^\s*listen [^;#]*default_server", site, re.M)
    assert "auth_basic_user_file /etc/nginx/mcpfcgi.htpasswd;" in site
    # METRICS_ALLOW reaches the /metrics location, MANAGEMENT_ALLOW the /management/ one, each only there.
    metrics = re.search(r"location = /metrics \{(.*?)\n\s*\}", site, re.S)
    assert metrics and "allow 127.0.0.1; allow 10.1.2.0/24; deny all;" in metrics.group(1), site
    assert site.count("allow 10.1.2.0/24;") == 1
    management = re.search(r"location /management/ \{(.*?)\n\s*\}", site, re.S)
    assert management and "allow 127.0.0.1; allow 10.9.8.7; deny all;" in management.group(1), site
    assert site.count("allow 10.9.8.7;") == 1


@needs_nginx
def test_run_sh_full_config_comes_from_the_same_site_text(tmp_path):
    """deploy/run.sh's call of render-nginx.sh (unchanged) still gives a full, valid configuration, and it
    carries the site template's text: one template, two outputs."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (run_dir / d).mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(run_dir / "tls.key"),
                    "-out", str(run_dir / "tls.crt")], check=True, capture_output=True, timeout=60)
    shutil.copy(ROOT / "deploy" / "mcp_fastcgi.conf", run_dir / "mcp_fastcgi.conf")
    common = {"SOCKET_DIR": str(run_dir), "WORKERS": "2", "HOST": "127.0.0.1", "PORT": "8080",
              "TLS_PORT": "8443", "TLS_CERT": str(run_dir / "tls.crt"), "TLS_KEY": str(run_dir / "tls.key"),
              "MAX_BODY": "4m", "AUTHORIZE_AUTH": ""}
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    subprocess.run([str(RENDER_NGINX)], check=True, timeout=60, env={
        **base_env, **common, "OUT": str(run_dir / "nginx.conf"), "RUN_DIR": str(run_dir), "USER_LINE": ""})
    full = (run_dir / "nginx.conf").read_text()
    assert "daemon off;" in full and f"pid {run_dir}/nginx.pid;" in full
    nginx_check(run_dir, run_dir / "nginx.conf")
    subprocess.run([str(RENDER_NGINX)], check=True, timeout=60, env={
        **base_env, **common, "OUT": str(tmp_path / "site.conf"), "SITE_ONLY": "1",
        "FASTCGI_INCLUDE": str(run_dir / "mcp_fastcgi.conf")})
    full_lines = {line.strip() for line in full.splitlines()}
    site_lines = [line.strip() for line in (tmp_path / "site.conf").read_text().splitlines()
                  if line.strip() and not line.startswith("# MCPFCGI:") and not line.startswith("# render again")]
    missing = [line for line in site_lines if line not in full_lines]
    assert not missing, f"site lines not in the full configuration: {missing}"


# -- the worker under the socket-activation contract ------------------------------------------------------

# seccomp: what systemd installs for MemoryDenyWriteExecute=yes and RestrictAddressFamilies=AF_UNIX.
SECCOMP_ARCH = {  # machine → (AUDIT_ARCH, socket, mmap, mprotect, pkey_mprotect, shmat)
    "x86_64": (0xC000003E, 41, 9, 10, 329, 30),
    "aarch64": (0xC00000B7, 198, 222, 226, 288, 196),
}


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def seccomp_program():
    """A BPF program (kept alive by the caller) or None on an architecture not listed above."""
    arch = SECCOMP_ARCH.get(platform.machine())
    if arch is None:
        return None
    audit_arch, nr_socket, nr_mmap, nr_mprotect, nr_pkey_mprotect, nr_shmat = arch
    allow, eperm, eafnosupport = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 97  # SECCOMP_RET_ALLOW / ERRNO
    prot_write, prot_exec, shm_exec = 0x2, 0x4, 0o100000

    def arg(n: int) -> int:  # offset of the low 32 bits of args[n] in struct seccomp_data (little endian)
        return 16 + 8 * n

    # (op, k, jump-if-true label, jump-if-false label); jumps go forward only.
    code = [
        ("ld", 4), ("jeq", audit_arch, None, "allow"),               # another ABI: not emulated
        ("ld", 0),
        ("jeq", nr_socket, "socket", None), ("jeq", nr_mmap, "mmap", None),
        ("jeq", nr_mprotect, "mprotect", None), ("jeq", nr_pkey_mprotect, "mprotect", None),
        ("jeq", nr_shmat, "shmat", None), ("ret", allow),
        "socket", ("ld", arg(0)), ("jeq", socket.AF_UNIX, "allow", None), ("ret", eafnosupport),
        "mmap", ("ld", arg(2)), ("and", prot_write | prot_exec), ("jeq", prot_write | prot_exec, "deny", "allow"),
        "mprotect", ("ld", arg(2)), ("jset", prot_exec, "deny", "allow"),
        "shmat", ("ld", arg(2)), ("jset", shm_exec, "deny", "allow"),
        "deny", ("ret", eperm),
        "allow", ("ret", allow),
    ]
    labels, pc = {}, 0
    for item in code:
        if isinstance(item, str):
            labels[item] = pc
        else:
            pc += 1
    opcodes = {"ld": 0x20, "and": 0x54, "ret": 0x06, "jeq": 0x15, "jset": 0x45}  # BPF_LD|W|ABS, BPF_ALU|AND|K, …
    prog, pc = [], 0
    for item in (i for i in code if not isinstance(i, str)):
        op, k, *jumps = item
        jt, jf = ((labels[j] - pc - 1) if j else 0 for j in (jumps or [None, None]))
        prog.append(SockFilter(opcodes[op], jt, jf, k))
        pc += 1
    filters = (SockFilter * len(prog))(*prog)
    return filters, SockFprog(len(prog), filters)


def restricted(program):
    """preexec_fn: NoNewPrivileges=yes, UMask=0077 and the seccomp filter, as systemd applies them."""
    libc = ctypes.CDLL(None, use_errno=True)

    def apply():
        os.umask(0o077)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
        if program is not None and libc.prctl(22, 2, ctypes.byref(program[1]), 0, 0) != 0:  # SECCOMP_MODE_FILTER
            raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")
    return apply


class Deployment:
    """The rendered units run as systemd would run them: one listening socket per instance (kept across
    worker restarts), the worker started from ExecStart with that socket as fd 0 and the unit's environment.
    Installed paths are taken from DESTDIR; /run/mcpfcgi becomes a temporary directory."""

    def __init__(self, dest: Path, run_dir: Path, log_dir: Path, program, wrapper: list[str] | None = None):
        self.dest, self.run_dir, self.log_dir, self.program, self.wrapper = dest, run_dir, log_dir, program, wrapper
        service = parse_unit(units_dir(dest) / "mcpfcgi@.service")["Service"]
        sock = parse_unit(units_dir(dest) / "mcpfcgi@.socket")["Socket"]
        self.exec_start = one(service, "ExecStart").split()
        self.listen = one(sock, "ListenStream")
        self.mode = int(one(sock, "SocketMode"), 8)
        self.backlog = int(one(sock, "Backlog"))
        self.environment = service.get("Environment", [])
        self.env_file = self.reroot(one(service, "EnvironmentFile"))
        self.unset = one(service, "UnsetEnvironment").split()
        self.sockets: dict[int, socket.socket] = {}
        self.procs: dict[int, subprocess.Popen] = {}
        self.starts = 0

    def reroot(self, value: str) -> str:
        value = value.replace(SOCKET_DIR + "/", str(self.run_dir) + "/")
        return re.sub(r"(?<![\w/])" + re.escape(CONF_DIR) + "/", str(self.dest) + CONF_DIR + "/", value)

    def socket_path(self, i: int) -> str:
        return self.reroot(self.listen.replace("%i", str(i)))

    def env(self, i: int) -> dict[str, str]:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/nonexistent",
               "LANG": "C.UTF-8"}
        for assignment in self.environment:
            key, _, value = assignment.replace("%i", str(i)).partition("=")
            env[key] = value
        env.update({k: self.reroot(v) for k, v in parse_env_file(Path(self.env_file)).items()})
        for name in self.unset:
            env.pop(name, None)
        # A coverage-instrumented build (scripts/test.sh's) writes its profile where the harness says, never
        # into the working directory; a real unit's worker runs in / with no such file either.
        if "LLVM_PROFILE_FILE" in os.environ:
            profiles = self.log_dir / "profiles"
            profiles.mkdir(exist_ok=True)
            profiles.chmod(0o1777)
            env["LLVM_PROFILE_FILE"] = str(profiles / "%p.profraw")
        return env

    def listen_socket(self, i: int) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.socket_path(i))
        os.chmod(self.socket_path(i), self.mode)
        s.listen(self.backlog)
        self.sockets[i] = s

    def start_worker(self, i: int) -> subprocess.Popen:
        self.starts += 1
        log = open(self.log_dir / f"w{i}.{self.starts}.log", "wb")
        argv = [*(self.wrapper or []), *self.exec_start]
        proc = subprocess.Popen(argv, stdin=self.sockets[i].fileno(), stdout=log, stderr=subprocess.STDOUT,
                                env=self.env(i), cwd=str(self.log_dir), close_fds=True, start_new_session=True,
                                preexec_fn=restricted(self.program))
        log.close()
        self.procs[i] = proc
        return proc

    def stop_worker(self, i: int, timeout: float = 30) -> int:
        proc = self.procs[i]
        pid = proc.pid
        if self.wrapper:  # the worker is the wrapper's child
            pid = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        os.kill(pid, signal.SIGTERM)  # KillSignal=SIGTERM
        code = proc.wait(timeout)
        del self.procs[i]
        return code

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in sorted(self.log_dir.glob("*.log")))

    def close(self) -> None:
        for proc in self.procs.values():  # each in its own process group (with a wrapper, the worker too)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)
        self.procs.clear()
        for i, s in self.sockets.items():
            s.close()
            try:
                os.unlink(self.socket_path(i))  # RemoveOnStop=yes
            except FileNotFoundError:
                pass


def health(path: str, timeout: float = 10.0) -> dict:
    r = fastcgi_request(path, "GET", "/health", timeout=timeout)
    try:
        assert r.status == 200, (r.status, r.body)
        return json.loads(r.body)
    finally:
        r.close()


def wait_healthy(path: str, proc: subprocess.Popen, deployment: Deployment) -> dict:
    deadline = time.monotonic() + 30
    while True:
        try:
            return health(path, timeout=2)
        except (OSError, TimeoutError, AssertionError):
            if proc.poll() is not None:
                raise AssertionError(f"worker exited with {proc.returncode}:\n{deployment.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker on {path} not healthy in time:\n{deployment.logs()}")
            time.sleep(0.1)


@pytest.fixture
def deployment(rendered, tmp_path):
    run_dir = Path(f"/tmp/mcpfcgi-sd.{os.getpid()}.{time.monotonic_ns() % 10**6}")  # short: sun_path limit
    run_dir.mkdir(mode=0o755)
    logs = tmp_path / "logs"
    logs.mkdir()
    program = seccomp_program()
    d = Deployment(rendered, run_dir, logs, program)
    yield d
    d.close()
    shutil.rmtree(run_dir, ignore_errors=True)


@needs_binary
def test_worker_under_socket_activation(deployment):
    """ExecStart of the rendered service, socket as fd 0, unit environment, seccomp rules of the unit."""
    d = deployment
    assert Path(d.exec_start[0]) == BINARY
    for i in range(1, WORKERS + 1):
        d.listen_socket(i)
        d.start_worker(i)
    for i in range(1, WORKERS + 1):
        body = wait_healthy(d.socket_path(i), d.procs[i], d)
        assert body["node"] == f"w{i}", body  # MCPFCGI_NODE_ID=w%i from the unit
    # Peer sockets from the env file: the management API answers for every worker.
    r = fastcgi_request(d.socket_path(2), "GET", "/management/sessions",
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    body = json.loads(r.body)
    r.close()
    assert r.status == 200, body
    assert sorted(w["node"] for w in body["workers"]) == [f"w{i}" for i in range(1, WORKERS + 1)], body
    assert body["unreachable"] == [], body
    # The OAuth issuer is the public URL from the env file (AUTH=builtin with the shared key file).
    r = fastcgi_request(d.socket_path(1), "GET", "/.well-known/oauth-authorization-server", timeout=10)
    meta = json.loads(r.body)
    r.close()
    assert r.status == 200 and meta["issuer"] == PUBLIC_URL, meta
    # METRICS_TOKEN: the worker reads the token file named by the env file, and its page covers every worker.
    r = fastcgi_request(d.socket_path(3), "GET", "/metrics", timeout=10)
    r.close()
    assert r.status == 401, r.status
    r = fastcgi_request(d.socket_path(3), "GET", "/metrics",
                        headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    r.read_until(b"\0", timeout=10)  # no NUL in a text page: reads to its end
    page = r.stdout.decode()
    r.close()
    assert r.status == 200, page
    for i in range(1, WORKERS + 1):
        assert re.search(rf'^mcpfcgi_scrape_peer_up\{{[^}}]*worker="w{i}"[^}}]*\}} 1(\.0)?$', page, re.M), page
    log = d.logs()
    assert "no request-state key file" not in log and "no OAuth signing key file" not in log, log
    assert "socket=fd 0" in log, log
    # Every worker loaded the same signing key from the shared key file.
    assert len(set(re.findall(r"oauth\.kid=(\S+)", log))) == 1 and log.count("OAuth signing key loaded") == WORKERS


@needs_binary
def test_restart_loses_no_connection(deployment):
    """What `systemctl restart mcpfcgi@1` does: SIGTERM, the worker drains and exits, the socket stays open;
    a request sent in between waits in the backlog and is answered by the next process."""
    d = deployment
    d.listen_socket(1)
    first = d.start_worker(1)
    before = wait_healthy(d.socket_path(1), first, d)
    assert d.stop_worker(1) == 0, d.logs()
    assert os.path.exists(d.socket_path(1)), "the draining worker unlinked the socket systemd owns"
    restarted = threading.Timer(1.0, d.start_worker, args=(1,))  # RestartSec=1
    restarted.start()
    t0 = time.monotonic()
    try:
        after = health(d.socket_path(1), timeout=30)  # connects at once: queued in the backlog
    finally:
        restarted.join()
    assert time.monotonic() - t0 >= 0.9
    assert after["node"] == before["node"] == "w1" and d.procs[1].pid != first.pid


@needs_binary
@pytest.mark.skipif(shutil.which("strace") is None or shutil.which("systemd-analyze") is None,
                    reason="needs strace and systemd-analyze")
def test_worker_syscalls_are_in_system_service_filter(deployment, tmp_path):
    """SystemCallFilter=@system-service: every system call the worker makes (start, requests, peer calls,
    drain) is in the set, as systemd-analyze lists it."""
    d = deployment
    d.program = None  # strace itself needs no seccomp rules; the test above covers them
    for i in (1, 2):
        d.listen_socket(i)
        d.wrapper = ["strace", "-f", "-qq", "-o", str(tmp_path / f"strace.w{i}")]
        d.start_worker(i)
    for i in (1, 2):
        wait_healthy(d.socket_path(i), d.procs[i], d)
    r = fastcgi_request(d.socket_path(1), "GET", "/management/sessions",
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20)
    r.close()
    assert r.status == 200, r.body  # w1 asked w2 over FastCGI
    r = fastcgi_request(d.socket_path(1), "GET", "/.well-known/oauth-authorization-server", timeout=20)
    r.close()
    assert r.status == 200, r.body
    for i in (1, 2):
        assert d.stop_worker(i) == 0, d.logs()
    used = set()
    for trace in tmp_path.glob("strace.w*"):
        for line in trace.read_text(errors="replace").splitlines():
            m = re.match(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]", line)
            if m:
                used.add(m.group(1))
    # Accepting nginx's connections, and the peer call: a socket of its own, connected.
    assert {"accept", "socket", "connect"} <= used, sorted(used)
    allowed = expand_syscall_set("@system-service")
    # execve of the worker itself happens before systemd's filter matters (it is in @system-service anyway).
    outside = sorted(used - allowed)
    assert not outside, f"system calls outside @system-service: {outside}"


def expand_syscall_set(name: str, seen: set[str] | None = None) -> set[str]:
    seen = set() if seen is None else seen
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    calls: set[str] = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        if item.startswith("@"):
            if item not in seen:
                seen.add(item)
                calls |= expand_syscall_set(item, seen)
        else:
            calls.add(item)
    return calls

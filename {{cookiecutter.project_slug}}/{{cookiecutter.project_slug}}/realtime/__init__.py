"""
Real-time add-on: live updates in the browser over WebSockets. Django stays a plain WSGI app and calls
publish(channel, data) (publish.py); a separate Tornado process (server.py) holds the sockets. Delete this
folder (and its lines in settings.py, urls.py, Procfile) to remove it.
"""


def socket_sources(url, port, allowed_hosts):
    """What settings.py adds to the Content-Security-Policy's connect-src: the socket pages open, REALTIME_URL,
    or by default ws://HOST:PORT/ws for each of ALLOWED_HOSTS (a ws: source allows wss: too; .example.org: its
    subdomains too; CSP cannot name IPv6 addresses, so [::1] is left out)."""
    if url:
        return [url]
    hosts = [host for host in allowed_hosts if not host.startswith("[")]
    names = [name for host in hosts for name in ([host[1:], f"*{host}"] if host.startswith(".") else [host])]
    return [f"ws://{name}:{port}/ws" for name in names]

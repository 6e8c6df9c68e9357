"""
Real-time add-on: live updates in the browser over WebSockets.

Django stays a plain WSGI app. A separate Tornado process (server.py) holds the
sockets; Redis pub/sub (REDIS_URL) lets any number of those processes share the
work. From a view, call publish(channel, data); browsers on that channel get it.
Delete this folder (and its lines in settings.py, urls.py, Procfile) to remove it.

Delivery is at-most-once: after any reconnect the browser fetches the current
state from Django again, so the database stays the one source of truth.
"""

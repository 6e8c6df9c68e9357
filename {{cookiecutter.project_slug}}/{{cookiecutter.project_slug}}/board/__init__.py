"""
The example app: the collaborative task board of the book *Lightweight Django*.

Browsers edit the board through the REST API and see each other's changes at once
through the real-time server. It shows the book's two lessons on top of the add-ons:
stateless services that use HTTP caching (ETag, 304 Not Modified) and edits that
never overwrite each other silently (If-Match, 412 Precondition Failed). README.md
walks through it. Delete this folder and its lines in settings.py and urls.py to
remove it (after `migrate board zero`, so its tables go too).
"""

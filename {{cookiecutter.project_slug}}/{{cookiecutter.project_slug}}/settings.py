"""
Settings for {{ cookiecutter.project_slug }}: the one settings module.

Every value comes from an environment variable (12-factor). For local work the
git-ignored `.env` file beside manage.py provides them; real environment
variables win. `.env.example` documents each variable.

https://docs.djangoproject.com/en/6.1/topics/settings/
https://docs.djangoproject.com/en/6.1/ref/settings/
"""

import secrets
from pathlib import Path

from django.utils.crypto import salted_hmac
from django.utils.csp import CSP

from .env import Env, development_key

BASE_DIR = Path(__file__).resolve().parent.parent
env = Env(BASE_DIR / ".env")

# Core
# https://docs.djangoproject.com/en/6.1/ref/settings/#debug
# SECURITY WARNING: don't run with debug turned on in production!
DEBUG = env.bool("DEBUG", default=False)

# collectstatic runs at build time: Heroku's buildpack runs `python manage.py collectstatic --noinput`,
# maybe before any config var is set. A build signs and serves nothing, so with BUILD_STEP on (manage.py
# turns it on for collectstatic; other builds set it themselves) SECRET_KEY and ALLOWED_HOSTS may be missing.
BUILD_STEP = env.bool("BUILD_STEP", default=False)

# SECURITY WARNING: keep the secret key used in production secret!
# Required with DEBUG off. In development, every process of this checkout (gunicorn's workers, runserver's
# reloads, the real-time server) shares one key, made on first use and kept in .dev-secret-key (git-ignored).
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="") or development_key(BASE_DIR / ".dev-secret-key")
elif BUILD_STEP:
    SECRET_KEY = env.str("SECRET_KEY", default=secrets.token_urlsafe(50))  # signs nothing
else:
    SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG or BUILD_STEP else Env.REQUIRED
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
{% if cookiecutter.use_rest %}
    "{{ cookiecutter.project_slug }}.api",  # before rest_framework, so its templates/rest_framework/ win
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
{% endif %}
{% if cookiecutter.use_realtime %}
    "{{ cookiecutter.project_slug }}.realtime",
{% endif %}
{% if cookiecutter.example_app == "board" %}
    "{{ cookiecutter.project_slug }}.board",  # the example app: a task board on the REST and real-time add-ons
{% endif %}
    "{{ cookiecutter.project_slug }}",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Above whitenoise, so static files get the Content-Security-Policy and the headers below too.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "{{ cookiecutter.project_slug }}.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "{{ cookiecutter.project_slug }}.urls"
WSGI_APPLICATION = "{{ cookiecutter.project_slug }}.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.csp",  # the nonce for csp_nonce_attr
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL, e.g. postgres://user:password@host:5432/name; a SQLite file by default
# https://docs.djangoproject.com/en/6.1/ref/settings/#databases
DATABASES = {"default": env.database("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Reuse connections between requests, and check them first so a database restart is not a 500.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# Cache: Redis when REDIS_URL is set (redis:// or rediss:// for TLS), else per-process memory
# https://docs.djangoproject.com/en/6.1/topics/cache/#redis
REDIS_URL = env.str("REDIS_URL", default="")
# Heroku Redis serves rediss:// with a self-signed certificate: REDIS_SSL_CERT_REQS=none accepts it.
REDIS_OPTIONS = (
    {"ssl_cert_reqs": env.choice("REDIS_SSL_CERT_REQS", ["required", "none"], default="required")}
    if REDIS_URL.startswith("rediss://")
    else {}
)
# While Redis is unreachable, cache.py's backend acts as an empty cache (pages and the API still answer);
# a second is plenty for Redis, and the most a request waits for one that does not answer.
CACHES = {
    "default": {
        "BACKEND": "{{ cookiecutter.project_slug }}.cache.RedisCache",
        "LOCATION": REDIS_URL,
        # Sites sharing one Redis (staging beside production) have other SECRET_KEYs, so keys of their own.
        "KEY_PREFIX": salted_hmac("cache", "", secret=SECRET_KEY, algorithm="sha256").hexdigest()[:16],
        "OPTIONS": {**REDIS_OPTIONS, "socket_connect_timeout": 1, "socket_timeout": 1},
    }
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# Passwords
# https://docs.djangoproject.com/en/6.1/ref/settings/#auth-password-validators
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalization
# https://docs.djangoproject.com/en/6.1/topics/i18n/
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files: hashed, compressed and served by whitenoise with far-future cache headers
# https://whitenoise.readthedocs.io/en/stable/django.html
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Security: HTTPS behind a proxy that sets X-Forwarded-Proto (Heroku's router does)
# https://docs.djangoproject.com/en/6.1/ref/settings/#secure-proxy-ssl-header
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # platform health checks may call over plain HTTP
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# https://docs.djangoproject.com/en/6.1/ref/middleware/#http-strict-transport-security
# On HTTPS answers only: browsers then refuse plain HTTP here for a year (scanners want six months or more).
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Subdomains and preload are opt-ins that are hard to undo: their deploy-check warnings stay
# silent until you choose them.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]
SILENCED_SYSTEM_CHECKS += [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Content-Security-Policy: nothing loads, runs or connects unless named here, so injected markup is inert.
# An inline <script> or <style> runs only with this response's nonce: add the csp_nonce_attr tag to it.
# https://docs.djangoproject.com/en/6.1/ref/csp/
SECURE_CSP = {
    "default-src": [CSP.NONE],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],  # Swagger UI draws its icons as data: images (no request leaves the page)
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],  # no site may frame these pages (X-Frame-Options' successor)
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
# Permissions-Policy: powerful browser features no page here uses are denied, to injected code too.
# Sent by middleware.py (Django has none for it). Let this site's pages use one: e.g. camera=("self",).
# https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/Permissions-Policy
POWERFUL_FEATURES = (
    "accelerometer autoplay camera display-capture geolocation gyroscope hid idle-detection magnetometer"
    " microphone midi payment publickey-credentials-get screen-wake-lock serial usb xr-spatial-tracking"
)
SECURE_PERMISSIONS_POLICY = dict.fromkeys(POWERFUL_FEATURES.split(), ())
# Cross-Origin-Resource-Policy (from middleware.py too): other sites' pages may not load these responses,
# even as an image or a script. Static files served by a CDN on another site need cross-origin.
SECURE_CROSS_ORIGIN_RESOURCE_POLICY = env.choice(
    "SECURE_CROSS_ORIGIN_RESOURCE_POLICY", ["same-origin", "same-site", "cross-origin"], default="same-origin"
)
# Also sent, by Django's defaults: Cross-Origin-Opener-Policy: same-origin, Referrer-Policy: same-origin,
# X-Content-Type-Options: nosniff, X-Frame-Options: DENY.

# Logging: everything to stderr, so 500 tracebacks show in `heroku logs` even with DEBUG off
# https://docs.djangoproject.com/en/6.1/topics/logging/
LOG_LEVEL = env.choice("LOG_LEVEL", ["DEBUG", "INFO", "WARNING", "ERROR"], default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "level": LOG_LEVEL}},
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    # Django gives its "django" logger a console handler of its own for development, which would print
    # each of its records a second time with DEBUG on; they reach stderr through the root logger instead.
    # INFO is Django's level for it (DEBUG would add a line per file that runserver watches).
    "loggers": {"django": {"handlers": [], "level": "INFO"}},
}
{% if cookiecutter.use_rest %}

# REST API: JSON, login required, paginated and throttled; the browsable API only in development
# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    # Token first, so an anonymous request gets 401 with "WWW-Authenticate: Token" (a hint), not a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # logged-in browsers; checks CSRF on writes
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=50),
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",  # per client address
        "rest_framework.throttling.UserRateThrottle",  # per user
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.rate("API_THROTTLE_ANON", default="60/minute"),
        "user": env.rate("API_THROTTLE_USER", default="600/minute"),
    },
    # Proxies that append the client's address to X-Forwarded-For (Heroku's router: 1); throttles trust only them.
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=1),
    "EXCEPTION_HANDLER": "{{ cookiecutter.project_slug }}.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# OpenAPI 3 schema at /api/schema/ and Swagger UI at /api/docs/, its files served by whitenoise (no CDN)
# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": {{ cookiecutter.project_name|pyrepr }},
    "DESCRIPTION": {{ cookiecutter.description|pyrepr }},
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,  # the schema does not describe itself
    "COMPONENT_SPLIT_REQUEST": True,  # separate request and response shapes, as client generators expect
    # Swagger UI (and Redoc, should you add SpectacularRedocView) from drf-spectacular-sidecar's files
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",  # the default
        "{{ cookiecutter.project_slug }}.api.schema.document_errors",  # the JSON errors every endpoint can answer
    ],
}
{% endif %}
{% if cookiecutter.use_realtime %}

# Real-time: a Tornado process holds the WebSockets; with REDIS_URL, Redis pub/sub joins any number of them
# Architecture, every variable and deploy recipes: realtime/README.md; the server: realtime/server.py
# https://www.tornadoweb.org/en/stable/websocket.html
REALTIME_PORT = env.int("REALTIME_PORT", default=8001)
# The URL browsers connect to, e.g. wss://rt.example.com/ws; default: this host on REALTIME_PORT.
REALTIME_URL = env.str("REALTIME_URL", default="")
# Content-Security-Policy: pages may open that socket, and no other: REALTIME_URL, or else /ws on REALTIME_PORT
# of each ALLOWED_HOSTS name (a ws: source allows wss: too; CSP cannot name IPv6 addresses such as [::1]).
SECURE_CSP["connect-src"] += (
    [REALTIME_URL]
    if REALTIME_URL
    else [
        f"ws://{name}:{REALTIME_PORT}/ws"
        for host in ALLOWED_HOSTS
        if not host.startswith("[")
        for name in ([host[1:], f"*{host}"] if host.startswith(".") else [host])  # .example.org: subdomains too
    ]
)
# Pages allowed to open sockets: host patterns as in ALLOWED_HOSTS, or origins such as https://example.com.
REALTIME_ALLOWED_ORIGINS = env.list("REALTIME_ALLOWED_ORIGINS", default=ALLOWED_HOSTS)
# Without Redis, Django POSTs events to the one Tornado process, signed with this key (default: from SECRET_KEY).
REALTIME_PUBLISH_KEY = env.str("REALTIME_PUBLISH_KEY", default="")
REALTIME_PUBLISH_URL = env.str("REALTIME_PUBLISH_URL", default=f"http://127.0.0.1:{REALTIME_PORT}/publish")
REALTIME_PUBLISH_TIMEOUT = env.int("REALTIME_PUBLISH_TIMEOUT", default=2)  # seconds a request may lose to a broker
REALTIME_TOKEN_MAX_AGE = env.int("REALTIME_TOKEN_MAX_AGE", default=60)  # seconds a socket token stays valid
REALTIME_MAX_MESSAGE_BYTES = env.int("REALTIME_MAX_MESSAGE_BYTES", default=64 * 1024)
REALTIME_RATE_LIMIT = env.int("REALTIME_RATE_LIMIT", default=20)  # messages/s from one browser
REALTIME_MAX_CONNECTIONS = env.int("REALTIME_MAX_CONNECTIONS", default=10_000)  # per Tornado process
# Pings keep idle sockets under Heroku's 55 s cut-off and find dead peers (closed after interval + timeout).
REALTIME_PING_INTERVAL = env.int("REALTIME_PING_INTERVAL", default=20)
REALTIME_PING_TIMEOUT = env.int("REALTIME_PING_TIMEOUT", default=20)
REALTIME_SEND_BUFFER_BYTES = env.int("REALTIME_SEND_BUFFER_BYTES", default=256 * 1024)  # then a slow socket is closed
{% endif %}

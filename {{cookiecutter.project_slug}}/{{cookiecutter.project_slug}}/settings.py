"""The one settings module: every value comes from an environment variable (12-factor), or for local work from
the git-ignored .env beside manage.py (.env.example explains each). https://docs.djangoproject.com/en/6.1/ref/settings/"""

from datetime import timedelta
from pathlib import Path

from django.utils.crypto import salted_hmac
from django.utils.csp import CSP

from . import env

BASE_DIR = Path(__file__).resolve().parent.parent
env.read_env_file(BASE_DIR / ".env")

DEBUG = env.boolean("DEBUG", default=False)  # SECURITY WARNING: don't run with debug turned on in production!
# SECURITY WARNING: keep the secret key used in production secret! Required unless DEBUG is on.
SECRET_KEY = env.get("SECRET_KEY", default="django-insecure-development-only" if DEBUG else env.REQUIRED)
ALLOWED_HOSTS = env.names("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else env.REQUIRED)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
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
    "django.middleware.csp.ContentSecurityPolicyMiddleware",  # above whitenoise: static files get it too
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "{{ cookiecutter.project_slug }}.outage.DatabaseOutageMiddleware",  # 503 while the database does not answer
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers for logins the backend below locked out
]

ROOT_URLCONF = "{{ cookiecutter.project_slug }}.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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

# Database: DATABASE_URL, a SQLite file by default. https://docs.djangoproject.com/en/6.1/ref/settings/#databases
DATABASES = {"default": env.database("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # a database restart costs no request
POOL_SIZE = env.number("DATABASE_POOL_SIZE", 4)  # 0: no pool, as manage.py's commands run
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and POOL_SIZE:  # greenlets share connections
    # https://docs.djangoproject.com/en/6.1/ref/databases/#connection-pool (timeout: seconds to wait for a connection)
    DATABASES["default"]["OPTIONS"] = {"pool": {"min_size": 1, "max_size": POOL_SIZE, "timeout": 10}}

# Cache: Redis when REDIS_URL is set. https://github.com/jazzband/django-redis#configure-as-cache-backend
REDIS_URL = env.get("REDIS_URL", default="")
TLS = REDIS_URL.startswith("rediss://")  # Heroku Redis's certificate is self-signed: REDIS_SSL_CERT_REQS=none takes it
REDIS_OPTIONS = {"ssl_cert_reqs": env.choice("REDIS_SSL_CERT_REQS", ["required", "none"], "required")} if TLS else {}
ONE_SECOND_AT_MOST = {"socket_connect_timeout": 1, "socket_timeout": 1}
if REDIS_URL:  # else Django's default: memory of each process
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Sites sharing one Redis (staging beside production) have other SECRET_KEYs, so keys of their own.
            "KEY_PREFIX": salted_hmac("cache", "", secret=SECRET_KEY, algorithm="sha256").hexdigest()[:16],
            # While Redis is down, reads miss and writes are dropped (after a second at most): pages still answer.
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "CONNECTION_POOL_KWARGS": {**REDIS_OPTIONS, **ONE_SECOND_AT_MOST}},
        }
    }

# https://docs.djangoproject.com/en/6.1/ref/settings/#auth-password-validators
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# 5 wrong passwords lock a username for 15 minutes on every login, Redis or not. https://django-axes.readthedocs.io/
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT, AXES_COOLOFF_TIME, AXES_VERBOSE = 5, timedelta(minutes=15), False  # verbose: a banner per start
AXES_LOCKOUT_PARAMETERS = ["username"]  # not the address: behind a proxy many users share one (so axes.W006 is off)
# axes stores 255 characters of a guessed username: cut a longer one, else PostgreSQL refuses it (a 500)
AXES_USERNAME_CALLABLE = lambda request, credentials: ((credentials or request.POST).get("username") or "")[:255]  # noqa: E731

# https://docs.djangoproject.com/en/6.1/topics/i18n/
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True

# Static files: hashed and compressed, served by whitenoise. https://whitenoise.readthedocs.io/en/stable/django.html
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_ROOT = Path(__file__).parent / "public"  # files served at /, such as favicon.ico
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# HTTPS behind Heroku's router. https://docs.djangoproject.com/en/6.1/ref/settings/#secure-proxy-ssl-header
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # platform health checks may call over plain HTTP
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
CSRF_TRUSTED_ORIGINS = env.names("CSRF_TRUSTED_ORIGINS", default=[])
# HSTS, on HTTPS answers: a year (scanners want six months or more). Subdomains and preload are hard to undo, so
# off (their checks W005, W021 silenced). https://docs.djangoproject.com/en/6.1/ref/middleware/#http-strict-transport-security
SECURE_HSTS_SECONDS = env.number("SECURE_HSTS_SECONDS", default=31536000)
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021", "axes.W006"]
# Content-Security-Policy: only what is named here loads or runs. https://docs.djangoproject.com/en/6.1/ref/csp/
SECURE_CSP = {
    "default-src": [CSP.NONE],
    "script-src": [CSP.SELF, CSP.NONCE],  # an inline <script> or <style> runs only with the csp_nonce_attr tag
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],  # Swagger UI draws its icons as data: images
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],  # no site may frame these pages (X-Frame-Options' successor)
    "base-uri": [CSP.NONE],
}
# Browser features no page uses are denied, to injected code too. https://github.com/adamchainz/django-permissions-policy
PERMISSIONS_POLICY = dict.fromkeys(["camera", "geolocation", "hid", "microphone", "payment", "serial", "usb"], [])

# Everything to stderr (heroku logs), with DEBUG off too. https://docs.djangoproject.com/en/6.1/topics/logging/
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": env.choice("LOG_LEVEL", ["DEBUG", "INFO", "WARNING", "ERROR"], "INFO")},
    "loggers": {"django": {"handlers": [], "level": "INFO"}},  # not also Django's own console handler: no doubles
}
{% if cookiecutter.use_rest %}

# REST API: JSON, login required, paginated, throttled. https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    # Token first, so an anonymous request gets 401 with "WWW-Authenticate: Token" (a hint), not a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # logged-in browsers; checks CSRF on writes
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + ["rest_framework.renderers.BrowsableAPIRenderer"] * DEBUG,
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env.number("API_PAGE_SIZE", default=50),
    # Per client address (anon) and per user; over the limit: 429 with Retry-After
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.rate("API_THROTTLE_ANON", default="60/minute"),
        "user": env.rate("API_THROTTLE_USER", default="600/minute"),
    },
    # Proxies that append the client's address to X-Forwarded-For (Heroku's router: 1); throttles trust only them.
    "NUM_PROXIES": env.number("API_NUM_PROXIES", default=1),
    "EXCEPTION_HANDLER": "{{ cookiecutter.project_slug }}.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# OpenAPI schema, /api/schema/, and Swagger UI, /api/docs/. https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": {{ cookiecutter.project_name|pyrepr }},
    "DESCRIPTION": {{ cookiecutter.description|pyrepr }},
    "SERVE_INCLUDE_SCHEMA": False,  # the schema does not describe itself
    # Schema and docs: logged-in users only, as the API (strangers get 401), or anyone with API_DOCS_PUBLIC on
    "SERVE_PERMISSIONS": REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"] * (not env.boolean("API_DOCS_PUBLIC", DEBUG)),
    "COMPONENT_SPLIT_REQUEST": True,  # separate request and response shapes, as client generators expect
    "SWAGGER_UI_DIST": "SIDECAR",  # Swagger UI from drf-spectacular-sidecar's files
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",  # the default
        "{{ cookiecutter.project_slug }}.api.schema.document_errors",  # the JSON errors every endpoint can answer
    ],
}
{% endif %}
{% if cookiecutter.use_realtime %}

# Real-time: a Tornado process holds the WebSockets and reads its own variables (realtime/README.md, .env.example)
REALTIME_PORT, REALTIME_URL = env.number("REALTIME_PORT", default=8001), env.get("REALTIME_URL", default="")
from {{ cookiecutter.project_slug }}.realtime import socket_sources  # noqa: E402 - the settings above decide it

SECURE_CSP["connect-src"] += socket_sources(REALTIME_URL, REALTIME_PORT, ALLOWED_HOSTS)  # that socket, no other
REALTIME_PUBLISH_KEY = env.get("REALTIME_PUBLISH_KEY", default="")
REALTIME_PUBLISH_URL = env.get("REALTIME_PUBLISH_URL", default=f"http://127.0.0.1:{REALTIME_PORT}/publish")
REALTIME_PUBLISH_TIMEOUT = env.number("REALTIME_PUBLISH_TIMEOUT", default=2)
REALTIME_MAX_MESSAGE_BYTES = env.number("REALTIME_MAX_MESSAGE_BYTES", default=64 * 1024)
{% endif %}

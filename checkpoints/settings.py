"""Settings, all from the environment (see .env.example). Safe defaults for development."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

# What Checkpoints itself reads (engines, jobs, limits, the data folder): product_settings.py.
from checkpoints.product_settings import *  # noqa: F403
from checkpoints.product_settings import BASE_DIR, DATA_DIR


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG")


def _secret_key() -> str:
    """DJANGO_SECRET_KEY, else the key `make run` generated into the data folder (so
    `manage.py` works beside it). Never a built-in key: without either, commands that
    sign nothing still run, and serving refuses to start (checkpoints.wsgi)."""
    key = os.environ.get("DJANGO_SECRET_KEY", "")
    if key:
        return key
    try:
        return (DATA_DIR / "secret_key").read_text().strip()
    except OSError:
        return ""


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Serve static files with whitenoise under runserver too:
    # https://whitenoise.readthedocs.io/en/stable/django.html#using-whitenoise-in-development
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    "checkpoints",
    "checkpoints.api",
    "contacts",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "checkpoints.security.input_guard.InputGuardMiddleware",
    "axes.middleware.AxesMiddleware",
]
# Request bodies: larger ones answer 413 with the limit (checkpoints.security.input_guard).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("CHECKPOINTS_MAX_BODY_BYTES", 2 * 1024 * 1024))

ROOT_URLCONF = "checkpoints.urls"
WSGI_APPLICATION = "checkpoints.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _default_database_url() -> str:
    """The metadata database on the embedded server that `make run` starts."""
    from checkpoints.servers.pgroles import app_url
    from checkpoints.servers.pgserver import read_config

    # The app's own role once `make run` made it; a data folder from before: the superuser.
    url = app_url(DATA_DIR / "postgres", "checkpoints")
    if url:
        return url
    config = read_config(DATA_DIR / "postgres")
    if config is None:
        return "postgresql://postgres@127.0.0.1:5432/checkpoints"
    return config.url("checkpoints")


DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or _default_database_url(), conn_max_age=60
    )
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Log-in throttling (django-axes): 5 wrong passwords for one username from one address lock
# that pair out for 15 minutes; a successful log-in clears the count (checkpoints.accounts).
AXES_FAILURE_LIMIT = int(os.environ.get("CHECKPOINTS_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(
    minutes=int(os.environ.get("CHECKPOINTS_LOGIN_LOCKOUT_MINUTES", "15"))
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "checkpoints.accounts.locked_out"
AXES_VERBOSE = False

# Mail: only with a mail server (EMAIL_HOST); password reset exists only then
# (checkpoints.accounts).
# Without one there is no mailer on purpose, so Django's "no default mailer" warning is
# silenced.
CHECKPOINTS_MAIL_ENABLED = bool(os.environ.get("EMAIL_HOST"))
MAILERS = {}
SILENCED_SYSTEM_CHECKS = [] if CHECKPOINTS_MAIL_ENABLED else ["mail.W001"]
if CHECKPOINTS_MAIL_ENABLED:
    MAILERS["default"] = {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": os.environ["EMAIL_HOST"],
            "port": int(os.environ.get("EMAIL_PORT", "25")),
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": env_bool("EMAIL_USE_TLS"),
            "timeout": 10,
        },
    }
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "checkpoints@localhost")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("CHECKPOINTS_STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

TASKS = {
    "default": {
        "BACKEND": os.environ.get("CHECKPOINTS_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "webhooks"],  # webhooks: their own worker (tasks.WEBHOOK_QUEUE)
    }
}

# Security headers; HTTPS-only cookies when served over TLS (DJANGO_SECURE_SSL=true).
SECURE_SSL = env_bool("DJANGO_SECURE_SSL")
SESSION_COOKIE_SECURE = SECURE_SSL
CSRF_COOKIE_SECURE = SECURE_SSL
SECURE_SSL_REDIRECT = SECURE_SSL
SECURE_HSTS_SECONDS = 31536000 if SECURE_SSL else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_SSL
SECURE_HSTS_PRELOAD = SECURE_SSL
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE_SSL else None
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

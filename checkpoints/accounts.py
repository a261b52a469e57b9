"""Log-in, log-out, password change and (only when mail is configured) password reset.

Log-in is throttled by django-axes (settings `AXES_*`): after `AXES_FAILURE_LIMIT` wrong
passwords for one username from one address, that pair is locked out for
`AXES_COOLOFF_TIME`, and `locked_out` tells the person so on the log-in page (429).

Password reset sends mail, so without a mail server (`EMAIL_HOST` unset, so no `MAILERS`) it does not
exist: no link on the log-in page, and its URLs answer 404. With one, a mail that cannot
be sent is logged as one line, never a traceback.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.mail import EmailMultiAlternatives
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.urls import path

logger = logging.getLogger(__name__)

LOCKED_OUT = (
    "Too many failed log-ins for “{username}” from your address: log-in is locked for "
    "{window}. Try again after that, or ask an administrator to unlock it."
)


def email_configured() -> bool:
    """Mail can be sent: a mail server is configured (EMAIL_HOST set)."""
    return bool(settings.CHECKPOINTS_MAIL_ENABLED)


def window_text(window: timedelta) -> str:
    minutes = max(1, round(window.total_seconds() / 60))
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{minutes} minute" + ("s" if minutes != 1 else "")


def locked_out(
    request: HttpRequest, original_response: Any = None, credentials: dict | None = None
) -> HttpResponse:
    """django-axes' lockout answer (`AXES_LOCKOUT_CALLABLE`): the log-in page, with why."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    cooloff = settings.AXES_COOLOFF_TIME
    window = cooloff if isinstance(cooloff, timedelta) else timedelta(hours=float(cooloff or 1))
    context = {
        "form": LoginForm(request),
        "locked_out": LOCKED_OUT.format(username=username[:150], window=window_text(window)),
        "password_reset": email_configured(),
        "next": request.POST.get("next", ""),
    }
    return render(request, "registration/login.html", context, status=429)


class LoginForm(AuthenticationForm):
    """Django sets the username's max_length after the field is built, so it only reaches
    the widget: a longer name would go on to authenticate() and django-axes' 255-character
    column. Refuse it here, as any other wrong login."""

    def clean(self) -> dict[str, Any]:
        username = self.data.get("username") or ""
        if len(username) > (self.fields["username"].max_length or 150):
            raise self.get_invalid_login_error()
        return super().clean()


class LoginView(auth_views.LoginView):
    form_class = LoginForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(password_reset=email_configured(), **kwargs)


class PasswordResetForm(auth_forms.PasswordResetForm):
    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        """As Django's, but a mail server that fails is one log line, not a traceback.

        The person sees the same "check your mail" page either way, so the answer never
        tells whether an address has an account."""
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        try:
            EmailMultiAlternatives(subject, body, from_email, [to_email]).send()
        except (OSError, smtplib.SMTPException) as error:
            logger.warning("password reset mail to user %s not sent: %s", context["user"].pk, error)


class PasswordResetView(auth_views.PasswordResetView):
    form_class = PasswordResetForm


def _only_with_email(view: Callable) -> Callable:
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not email_configured():
            raise Http404("Password reset needs a mail server (EMAIL_HOST).")
        return view(request, *args, **kwargs)

    return login_not_required(wrapper)


urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "password_reset/",
        _only_with_email(PasswordResetView.as_view()),
        name="password_reset",
    ),
    path(
        "password_reset/done/",
        _only_with_email(auth_views.PasswordResetDoneView.as_view()),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        _only_with_email(auth_views.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        _only_with_email(auth_views.PasswordResetCompleteView.as_view()),
        name="password_reset_complete",
    ),
]

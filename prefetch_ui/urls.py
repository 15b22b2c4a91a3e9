"""Root URL configuration."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

# Refusals that say what was wrong (prefetch_ui.core.views), not Django's bare "Bad Request (400)";
# to htmx, in plain text for the page's notice.
handler400 = "prefetch_ui.core.views.bad_request"
handler403 = "prefetch_ui.core.views.permission_denied"
handler404 = "prefetch_ui.core.views.not_found"

urlpatterns = [
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the page links: send them to the SVG.
    path(
        "favicon.ico",
        login_not_required(RedirectView.as_view(url=lazy(static, str)("favicon.svg"), permanent=True)),
    ),
    path("accounts/", include("prefetch_ui.logins.urls")),
    path("api/", include("prefetch_ui.api.urls")),
    path("", include("prefetch_ui.core.urls")),
    path("", include("prefetch_ui.prefetch.urls")),
    path("", include("prefetch_ui.incidents.urls")),
    path("", include("prefetch_ui.reviews.urls")),
    path("", include("prefetch_ui.limits.urls")),
    path("", include("prefetch_ui.alerts.urls")),
    path("", include("prefetch_ui.notifications.urls")),
]

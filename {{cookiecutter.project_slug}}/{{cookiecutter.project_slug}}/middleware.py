"""
The two security headers Django does not send itself; SecurityMiddleware and
ContentSecurityPolicyMiddleware send the others. Their values are in settings.py.

https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/Permissions-Policy
https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/Cross-Origin-Resource-Policy
"""

from django.conf import settings


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        # Worked out once: settings do not change while the process runs.
        features = settings.SECURE_PERMISSIONS_POLICY.items()
        self.headers = {
            "Permissions-Policy": ", ".join(f"{feature}=({' '.join(allowed)})" for feature, allowed in features),
            "Cross-Origin-Resource-Policy": settings.SECURE_CROSS_ORIGIN_RESOURCE_POLICY,
        }

    def __call__(self, request):
        response = self.get_response(request)
        for header, value in self.headers.items():
            if value:
                response.headers.setdefault(header, value)  # a view may set its own
        return response

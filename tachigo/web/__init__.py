"""The aiohttp API: routes, middlewares, request models, and the JSON envelope.

Success is ``{"success": true, "data": ...}``; failure is ``{"success": false,
"error": "<message>", "code": "<stable_code>", "details": {...}}`` — the Go service's
envelope (its clients read ``error`` as a string) plus our stable ``code``.
"""

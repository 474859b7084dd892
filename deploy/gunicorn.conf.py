"""gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py registry.wsgi`."""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
timeout = 30
graceful_timeout = 30
keepalive = 5
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The longest request line gunicorn reads (its maximum). The API refuses a
# query string over 6,000 characters itself (api/query.py, 414 in its JSON
# error format); this leaves room for the path and the method beyond that,
# so gunicorn's own plain-text 414 is never what an API client gets.
limit_request_line = 8190

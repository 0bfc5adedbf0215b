"""``echomark serve``: a local web viewer and annotator for a png-cache, labels and predictions.

The server (:mod:`echomark.serve.app`, Starlette on uvicorn) reads the cache in place and saves
every edit at once, atomically, in the v2 instance form with user and time
(:mod:`echomark.serve.layer`); the front end is plain ES modules in ``static/``, no build step
and nothing fetched from the internet. Needs the ``web`` extra (starlette, uvicorn).
"""

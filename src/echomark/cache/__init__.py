"""Image keys, the sharded png-cache layout, folder and zip frame stores, verification."""

from echomark.cache.keys import ImageKey, VideoCode, strip_duplicate_suffix

__all__ = ["ImageKey", "VideoCode", "strip_duplicate_suffix"]

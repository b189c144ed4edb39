from tests.redis_service import redis_url

__all__ = ["redis_url"]

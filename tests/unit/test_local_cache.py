from api.core.cache import LocalCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _cache(ttl: float = 10.0) -> tuple[LocalCache[str], Clock]:
    clock = Clock()
    cache: LocalCache[str] = LocalCache("t", ttl=ttl, max_entries=3, monotonic=clock)
    cache.enabled = True
    return cache, clock


def test_get_put_and_ttl() -> None:
    cache, clock = _cache()
    cache.put("a", "1", cache.generation())
    assert cache.get("a") == "1"
    clock.now = 10.5
    assert cache.get("a") is None


def test_disabled_cache_neither_stores_nor_serves() -> None:
    cache, _ = _cache()
    cache.enabled = False
    cache.put("a", "1", cache.generation())
    cache.enabled = True
    assert cache.get("a") is None


def test_a_load_that_raced_an_invalidation_is_not_stored() -> None:
    cache, _ = _cache()
    started = cache.generation()  # a reader starts loading "a"
    cache.evict("a")  # meanwhile a writer changes it
    cache.put("a", "stale", started)
    assert cache.get("a") is None
    cache.put("a", "fresh", cache.generation())  # a load started after the change is kept
    assert cache.get("a") == "fresh"


def test_eviction_of_other_keys_does_not_block_a_load() -> None:
    cache, _ = _cache()
    started = cache.generation()
    cache.evict("b")
    cache.put("a", "1", started)
    assert cache.get("a") == "1"


def test_size_is_bounded_least_recently_stored_first() -> None:
    cache, _ = _cache()
    for key in "abcd":
        cache.put(key, key, cache.generation())
    assert cache.get("a") is None
    assert cache.get("d") == "d"

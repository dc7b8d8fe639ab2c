"""The seed-002 JSON stream splitter: chunking invariance, errors, resync and memory bounds."""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time

import numpy as np
import pytest
from fastfeed import JsonStreamError, JsonStreamSplitter
from hypothesis import given, settings
from hypothesis import strategies as st


def feed_all(splitter: JsonStreamSplitter, chunks: list[bytes]) -> list[bytes]:
    objects: list[bytes] = []
    for chunk in chunks:
        objects.extend(splitter.feed(chunk))
    return objects


def split(*chunks: bytes) -> list[bytes]:
    return feed_all(JsonStreamSplitter(), list(chunks))


# Strings that stress the scanner: braces, brackets, quotes, backslashes, multi-byte UTF-8.
tricky_text = st.text(alphabet='ab{}[]"\\é€😀\n\t,:\x00\u2028', max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | tricky_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=4),
    max_leaves=6,
)
json_objects = st.dictionaries(tricky_text, json_values, max_size=4)


def encode(value: object, ensure_ascii: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ensure_ascii, separators=(",", ":")).encode()


# The json_stream cargo-fuzz target explores chunkings far deeper in CI (scripts/fuzz); here a
# few hundred examples check the Python-visible contract (one object per message, offsets).
@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(json_objects, max_size=5),
    separator=st.sampled_from([b"", b"\n", b"\r\n", b" \t"]),
    ensure_ascii=st.booleans(),
    data=st.data(),
)
def test_any_chunking_yields_the_one_shot_objects(
    values: list[dict[str, object]], separator: bytes, ensure_ascii: bool, data: st.DataObject
) -> None:
    encoded = [encode(v, ensure_ascii) for v in values]
    stream = b"".join(e + separator for e in encoded)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]

    splitter = JsonStreamSplitter()
    assert feed_all(splitter, chunks) == encoded
    assert split(stream) == encoded
    assert [json.loads(o) for o in encoded] == values
    assert splitter.buffered == 0
    assert splitter.offset == len(stream)


def test_several_objects_per_chunk_and_whitespace_variants() -> None:
    assert split(b'{"a":1}\n{"b":2}{"c":3}\r\n \t{}\n') == [
        b'{"a":1}',
        b'{"b":2}',
        b'{"c":3}',
        b"{}",
    ]


def test_one_object_over_many_one_byte_chunks() -> None:
    stream = '{"Symbol":"MSFT","Desc":"é€😀 {[\\"]}","Tags":["x{","y]"]}'.encode()
    splitter = JsonStreamSplitter()
    objects = feed_all(splitter, [stream[i : i + 1] for i in range(len(stream))])
    assert objects == [stream]
    assert json.loads(objects[0])["Desc"] == 'é€😀 {["]}'


def test_closing_brace_inside_a_string() -> None:
    assert split(b'{"a":"}"}') == [b'{"a":"}"}']


def test_double_backslash_split_after_the_first_backslash() -> None:
    assert split(b'{"a":"\\', b'\\"}{"b":1}') == [b'{"a":"\\\\"}', b'{"b":1}']
    assert split(b'{"a":"\\', b'"}"}') == [b'{"a":"\\"}"}']


def test_nested_objects_and_arrays() -> None:
    stream = b'{"a":{"b":[1,{"c":[[],{}]}]},"d":[]}'
    assert split(stream[:9], stream[9:21], stream[21:]) == [stream]


def test_stray_bytes_raise_after_the_chunk_with_its_objects_and_resync() -> None:
    splitter = JsonStreamSplitter()
    assert splitter.feed(b'{"a":1}') == [b'{"a":1}']
    with pytest.raises(JsonStreamError) as info:
        splitter.feed(b'] ,x{"b":2}[{"c":3}],{"d":')
    assert str(info.value) == (
        "unexpected byte 0x5d (']') between objects at stream offset 7; "
        "skipping to the next '{' (and 2 more errors in this chunk)"
    )
    assert info.value.objects == [b'{"b":2}', b'{"c":3}']
    assert isinstance(info.value, ValueError)
    assert splitter.feed(b"4}") == [b'{"d":4}']
    with pytest.raises(JsonStreamError, match=r"^unexpected byte 0xff between objects at stream "):
        splitter.feed(b"\xff")
    assert splitter.feed(b"garbage{}") == [b"{}"]


def test_oversized_object_is_reported_skipped_and_memory_stays_bounded() -> None:
    limit = 1 << 20
    splitter = JsonStreamSplitter()
    assert splitter.max_object_size == limit
    assert splitter.feed(b'{"a":1}\n') == [b'{"a":1}']
    big = b'{"x":"' + b"}" * (10 << 20) + b'"}'
    errors = []
    objects = []
    for i in range(0, len(big), 64 << 10):
        try:
            objects.extend(splitter.feed(big[i : i + (64 << 10)]))
        except JsonStreamError as e:
            errors.append(str(e))
            objects.extend(e.objects)
        assert splitter.buffered <= limit
    assert objects == []
    assert errors == ["object exceeds max_object_size of 1048576 bytes at stream offset 8"]
    assert splitter.buffered == 0
    assert splitter.feed(b'\n{"b":2}') == [b'{"b":2}']


def test_oversized_object_inside_one_chunk() -> None:
    splitter = JsonStreamSplitter(max_object_size=10)
    with pytest.raises(JsonStreamError) as info:
        splitter.feed(b'{"a":"12345"}{"b":2}')
    assert str(info.value) == "object exceeds max_object_size of 10 bytes at stream offset 0"
    assert info.value.objects == [b'{"b":2}']


def test_seed_stream_status_and_error_objects_pass_through() -> None:
    stream = (
        b'{"StreamStatus":"EndSnapshot"}\n{"StreamStatus":"GoAway"}\n'
        b'{"Error":"DualLogon","Message":"Stream closed"}\n'
    )
    assert split(stream[:20], stream[20:]) == [
        b'{"StreamStatus":"EndSnapshot"}',
        b'{"StreamStatus":"GoAway"}',
        b'{"Error":"DualLogon","Message":"Stream closed"}',
    ]


def test_feed_packed_matches_feed() -> None:
    stream = b'{"a":1}\n{"b":[2]}{"c":"}"}\n{"d":'
    data, offsets = JsonStreamSplitter().feed_packed(stream)
    assert offsets.dtype == np.int64
    assert offsets.tolist() == [0, 7, 16, 25]
    assert [data[a:b] for a, b in itertools.pairwise(offsets)] == split(stream)


def test_a_large_chunk_is_scanned_without_the_gil() -> None:
    """Another Python thread runs while a large chunk is scanned. The switch interval is set
    far beyond the test, so the interpreter never asks the scanning thread to let go: the
    spinning thread can count only if the scan itself releases the GIL."""
    obj = b'{"k":"' + b"v" * 480 + b'"}'
    chunk = (obj + b"\n") * 200_000  # ~100 MB: tens of milliseconds to scan
    splitter = JsonStreamSplitter()
    counter = 0
    stop = False
    ready = threading.Event()

    def spin() -> None:
        nonlocal counter
        ready.set()
        while not stop:
            counter += 1
            if counter % 256 == 0:
                time.sleep(0)  # lets the main thread take the GIL back promptly

    interval = sys.getswitchinterval()
    sys.setswitchinterval(60)
    try:
        spinner = threading.Thread(target=spin)
        spinner.start()
        ready.wait()
        before = counter
        data, offsets = splitter.feed_packed(chunk)
        during = counter - before
        stop = True
        spinner.join()
    finally:
        sys.setswitchinterval(interval)
    assert len(offsets) == 200_001 and data[: len(obj)] == obj
    assert during > 0


def test_large_chunk_path_and_reset() -> None:
    stream = b'{"k":"v"}\n' * 10_000
    splitter = JsonStreamSplitter()
    assert splitter.feed(stream + b'{"partial":') == [b'{"k":"v"}'] * 10_000
    assert splitter.in_object
    assert splitter.buffered == 11
    splitter.reset()
    assert (splitter.offset, splitter.buffered, splitter.in_object) == (0, 0, False)

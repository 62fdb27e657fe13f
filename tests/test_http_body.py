"""HTTP bodies stored raw in WARC records: chunk framing and content codings are undone only when
really present, and a body that claims a coding it cannot be decoded from gets a reason."""
import gzip
import zlib

import pytest

from tokenlake.readers.http_body import MAX_BODY_BYTES, BodyError, dechunk, decode_body

PAGE = ("<html><head><title>Release notes</title></head><body><p>" + "Déjà vu, naïve café. " * 400
        + "</p></body></html>").encode()


def chunked(data: bytes, size: int = 700, ext: bool = False) -> bytes:
    parts = [b"%x%s\r\n%s\r\n" % (len(data[i:i + size]), b";name=v" if ext else b"", data[i:i + size])
             for i in range(0, len(data), size)]
    return b"".join(parts) + b"0\r\n\r\n"


@pytest.mark.parametrize("size,ext", [(1, False), (700, False), (700, True), (len(PAGE), False)])
def test_chunked_bodies_are_reassembled(size, ext):
    assert dechunk(chunked(PAGE, size, ext)) == PAGE
    assert decode_body(chunked(PAGE, size, ext), "chunked", "") == PAGE


def test_body_stored_dechunked_under_a_chunked_header_is_left_alone():
    assert dechunk(PAGE) is None
    assert decode_body(PAGE, "chunked", "") == PAGE
    # hex-looking first line but no chunk framing after it
    odd = b"cafe\r\n<html>short</html>" + b"x" * 60000
    assert decode_body(odd, "chunked", "") == odd


def test_truncated_chunked_body_keeps_what_arrived():
    body = chunked(PAGE)[:-2000]
    got = dechunk(body)
    assert PAGE.startswith(got) and len(got) > len(PAGE) - 2100


@pytest.mark.parametrize("enc,data", [("gzip", gzip.compress(PAGE)), ("x-gzip", gzip.compress(PAGE)),
                                      ("deflate", zlib.compress(PAGE)),
                                      ("deflate", zlib.compress(PAGE)[2:-4])])  # raw deflate, as many servers send
def test_content_codings_are_decompressed(enc, data):
    assert decode_body(data, "", enc) == PAGE
    assert decode_body(chunked(data, 333), "chunked", enc) == PAGE


def test_body_stored_decoded_under_a_gzip_header_is_left_alone():
    assert decode_body(PAGE, "", "gzip") == PAGE
    assert decode_body(PAGE, "", "deflate") == PAGE


def test_undecodable_bodies_have_reasons():
    with pytest.raises(BodyError) as e:
        decode_body(b"\x1f\x8b\x08\x00garbage-not-deflate" * 10, "", "gzip")
    assert e.value.reason == "http_content_decode_error"
    with pytest.raises(BodyError) as e:
        decode_body(PAGE, "", "compress")
    assert e.value.reason == "http_content_decode_error" and "compress" in str(e.value)


def test_compression_bomb_is_capped():
    bomb = gzip.compress(b"\0" * (MAX_BODY_BYTES + 1024), compresslevel=9)
    assert len(bomb) < 200_000
    with pytest.raises(BodyError) as e:
        decode_body(bomb, "", "gzip")
    assert e.value.reason == "doc_too_large"


def test_brotli_bodies_and_bombs():
    import brotli

    assert decode_body(brotli.compress(PAGE), "", "br") == PAGE
    assert decode_body(chunked(brotli.compress(PAGE), 100), "chunked", "br") == PAGE
    assert decode_body(PAGE, "", "br") == PAGE  # stored decoded
    with pytest.raises(BodyError) as e:
        decode_body(brotli.compress(b"\0" * (MAX_BODY_BYTES + 1024)), "", "br")
    assert e.value.reason == "doc_too_large"

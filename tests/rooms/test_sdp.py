"""Whether a session description would send audio or video: what keeps viewers from publishing."""

from __future__ import annotations

import pytest

from salon.rooms.sdp import Direction, InvalidSdp, MediaSection, media_sections, would_send_media


def sdp(*lines: str) -> str:
    return "\r\n".join(lines) + "\r\n"


SESSION = ("v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0")

# What Chrome offers for getUserMedia({audio, video}) plus a negotiated data channel (trimmed:
# fewer codecs and header extensions, same shape).
CHROME_OFFER = sdp(
    *SESSION,
    "a=group:BUNDLE 0 1 2",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS 3f1b2c4d",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 0 8",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:Kx3t",
    "a=ice-pwd:0aUzvcqFTgcLeWv1R3WvmW9Z",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 5B:1C:7E:AA:01:9F:2D:3C:44:58:6A:7B:8C:9D:AE:BF"
    ":C0:D1:E2:F3:04:15:26:37:48:59:6A:7B:8C:9D:AE:BF",
    "a=setup:actpass",
    "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=sendrecv",
    "a=msid:3f1b2c4d 8e2f1a0b-audio",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=ssrc:1001 cname:k3V7pQ9wXyZ",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
    "c=IN IP4 0.0.0.0",
    "a=mid:1",
    "a=sendrecv",
    "a=msid:3f1b2c4d 8e2f1a0b-video",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96",
    "a=ssrc-group:FID 2001 2002",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "c=IN IP4 0.0.0.0",
    "a=mid:2",
    "a=sctp-port:5000",
    "a=max-message-size:262144",
)

# A viewer's answer to that offer: it receives both, sends neither.
RECVONLY_ANSWER = sdp(
    *SESSION,
    "a=group:BUNDLE 0 1 2",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "a=mid:0",
    "a=setup:active",
    "a=recvonly",
    "a=rtpmap:111 opus/48000/2",
    "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "a=mid:1",
    "a=recvonly",
    "a=rtpmap:96 VP8/90000",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "a=mid:2",
)


def test_chrome_offer_sends_audio_and_video():
    assert media_sections(CHROME_OFFER) == [
        MediaSection("audio", 9, Direction.SENDRECV),
        MediaSection("video", 9, Direction.SENDRECV),
        MediaSection("application", 9, Direction.SENDRECV),
    ]
    assert would_send_media(CHROME_OFFER)


def test_recvonly_answer_sends_nothing():
    assert [s.direction for s in media_sections(RECVONLY_ANSWER)] == [
        Direction.RECVONLY,
        Direction.RECVONLY,
        Direction.SENDRECV,  # the data channel: not media
    ]
    assert not would_send_media(RECVONLY_ANSWER)


@pytest.mark.parametrize(
    ("lines", "sends"),
    [
        # The session-level direction applies where a section names none...
        pytest.param(("a=sendonly", "m=video 9 UDP/TLS/RTP/SAVPF 96"), True, id="session-sendonly"),
        pytest.param(("a=recvonly", "m=audio 9 RTP/AVP 0"), False, id="session-recvonly"),
        pytest.param(("a=inactive", "m=audio 9 RTP/AVP 0"), False, id="session-inactive"),
        # ...and a section's own direction wins over it.
        pytest.param(("a=recvonly", "m=audio 9 RTP/AVP 0", "a=sendrecv"), True, id="media-wins"),
        pytest.param(("a=sendonly", "m=audio 9 RTP/AVP 0", "a=inactive"), False, id="media-wins-2"),
        # No direction anywhere means sendrecv.
        pytest.param(("m=audio 9 RTP/AVP 0",), True, id="default-sendrecv"),
        pytest.param(("m=video 9 RTP/AVP 96", "a=sendonly"), True, id="sendonly"),
        pytest.param(("m=video 9 RTP/AVP 96", "a=inactive"), False, id="inactive"),
        # A rejected section (port 0) carries nothing...
        pytest.param(("m=video 0 UDP/TLS/RTP/SAVPF 96", "a=sendrecv"), False, id="port-0"),
        # ...unless it is bundle-only, which browsers keep on the bundled transport.
        pytest.param(("m=video 0 RTP/AVP 96", "a=bundle-only"), True, id="bundle-only"),
        pytest.param(("m=audio 9/2 RTP/AVP 0", "a=sendonly"), True, id="port-count"),
        pytest.param(("m=AUDIO 9 RTP/AVP 0",), True, id="kind-case"),
        pytest.param(("m=application 9 UDP/DTLS/SCTP webrtc-datachannel",), False, id="data-only"),
        pytest.param(("m=text 9 RTP/AVP 98",), False, id="other-kind"),
        pytest.param((), False, id="no-media"),
    ],
)
def test_would_send_media(lines: tuple[str, ...], sends: bool):
    assert would_send_media(sdp(*SESSION, *lines)) is sends


def test_bare_newlines_are_accepted():
    assert would_send_media("v=0\nm=audio 9 RTP/AVP 0\na=sendrecv\n")
    assert not would_send_media("v=0\nm=audio 9 RTP/AVP 0\na=recvonly")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("hello", id="prose"),
        pytest.param("o=- 1 2 IN IP4 127.0.0.1\r\nv=0\r\n", id="v-not-first"),
        pytest.param(sdp(*SESSION, "m=audio nine RTP/AVP 0"), id="port-not-a-number"),
        pytest.param(sdp(*SESSION, "m=audio 99999 RTP/AVP 0"), id="port-too-big"),
        pytest.param(sdp(*SESSION, "m=audio -1 RTP/AVP 0"), id="port-negative"),
        pytest.param(sdp(*SESSION, "m=audio 9 RTP/AVP"), id="no-formats"),
        pytest.param(sdp(*SESSION, "m=audio  9 RTP/AVP 0"), id="empty-field"),
        pytest.param(sdp(*SESSION, "this is not sdp"), id="not-key-value"),
        pytest.param(sdp(*SESSION, "A=sendrecv"), id="upper-case-type"),
        pytest.param(sdp(*SESSION, "m=audio 9 RTP/AVP 0", "a=recvonly", "a=sendrecv"), id="two"),
        pytest.param(sdp(*SESSION, "a=recvonly", "a=sendonly"), id="two-at-session-level"),
        pytest.param("v=0\r\n\r\nm=audio 9 RTP/AVP 0\r\n", id="blank-line-inside"),
    ],
)
def test_unparseable_sdp_is_refused(text: str):
    with pytest.raises(InvalidSdp) as raised:
        would_send_media(text)
    assert raised.value.signal_code == "invalid_message"
    assert raised.value.problems[0].field == "description.sdp"

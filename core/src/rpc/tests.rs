//! RPC frames: round trips through a byte stream, truncation, hostile bytes.

use proptest::prelude::*;

use super::*;

fn arb_frame() -> impl Strategy<Value = Frame> {
    let s = || "[ -~]{0,16}";
    let b = || prop::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        (any::<u8>(), s(), s()).prop_map(|(version, datacenter, node)| Frame::Hello {
            version,
            datacenter,
            node
        }),
        b().prop_map(Frame::Raft),
        (s(), s(), s(), prop::collection::vec((s(), s()), 0..4), b()).prop_map(
            |(method, path, query, headers, body)| Frame::Http(HttpRequest {
                method,
                path,
                query,
                headers,
                body
            })
        ),
        (
            any::<u16>(),
            s(),
            prop::collection::vec((s(), s()), 0..4),
            b()
        )
            .prop_map(|(status, content_type, headers, body)| Frame::HttpAnswer(
                HttpResponse {
                    status,
                    content_type,
                    headers,
                    body
                }
            )),
        b().prop_map(Frame::Propose),
        any::<bool>().prop_map(|x| Frame::ProposeAnswer(ProposeOutcome::Done(x))),
        (any::<u16>(), s()).prop_map(|(status, text)| {
            Frame::ProposeAnswer(ProposeOutcome::Failed { status, text })
        }),
        s().prop_map(Frame::NodeView),
        b().prop_map(Frame::NodeViewAnswer),
        b().prop_map(Frame::Dns),
        b().prop_map(Frame::DnsAnswer),
        s().prop_map(Frame::Error),
        (s(), b()).prop_map(|(token, command)| Frame::ProposeAs { token, command }),
    ]
}

proptest! {
    #[test]
    fn frames_round_trip_through_a_stream(frames in prop::collection::vec(arb_frame(), 1..6)) {
        let mut stream = Vec::new();
        for f in &frames {
            f.encode_into(&mut stream);
        }
        let mut got = Vec::new();
        let mut at = 0;
        while let Some((f, used)) = split_frame(&stream[at..]).unwrap() {
            got.push(f);
            at += used;
        }
        prop_assert_eq!(at, stream.len());
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn truncated_frames_wait_for_more(f in arb_frame(), cut in any::<usize>()) {
        let bytes = f.encode();
        let cut = cut % bytes.len();
        prop_assert!(split_frame(&bytes[..cut]).unwrap().is_none());
    }

    #[test]
    fn mutated_frames_never_panic(f in arb_frame(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut bytes = f.encode();
        for (at, v) in flips {
            let i = at % bytes.len();
            bytes[i] ^= v;
        }
        let _ = split_frame(&bytes);
        let _ = Frame::decode(&bytes);
    }
}

#[test]
fn an_oversized_length_is_refused_before_buffering() {
    let mut bytes = (u32::MAX).to_le_bytes().to_vec();
    bytes.push(2);
    assert!(split_frame(&bytes).is_err());
}

#[test]
fn only_a_raft_frame_may_carry_a_whole_snapshot() {
    let len = (crate::config::RPC_FRAME_BYTES_MAX * 2) as u32;
    let frame_of = |kind: u8| {
        let mut bytes = len.to_le_bytes().to_vec();
        bytes.push(kind);
        bytes
    };
    // On a server's connection past its hello, a Raft message that long is waited for; a
    // forwarded HTTP request is refused at once.
    assert!(matches!(split_frame_within(&frame_of(2), true), Ok(None)));
    assert!(split_frame_within(&frame_of(3), true).is_err());
    // Before the kind byte arrives, nothing is decided.
    assert!(matches!(
        split_frame_within(&len.to_le_bytes(), true),
        Ok(None)
    ));
    // Anywhere else (a hello, an answer, a client agent), every frame keeps the usual limit.
    assert!(split_frame(&frame_of(2)).is_err());
    assert!(split_frame(&len.to_le_bytes()).is_err());
}

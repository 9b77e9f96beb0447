//! Refuses an over-limit WebSocket frame at its header, before its payload is read.
//!
//! actix-http's frame codec checks a frame's announced length against its limit only once
//! the whole frame is buffered, and actix-ws's `MessageStream` reads every byte the socket
//! has into that buffer first: a header announcing 4 GiB made the server buffer whatever
//! the peer streamed after it. [`FrameLimit`] watches the bytes of the request payload on
//! their way to the codec, parses each frame header as it passes, and refuses:
//! - a frame announcing more than `max_frame_bytes`;
//! - a fragment whose announced length would take its message (the sum of its fragments)
//!   over `max_frame_bytes`;
//! - a control frame announcing more than the 125 bytes RFC 6455 allows.
//!
//! [`limit_payload`] wraps a request's payload with it. On a refusal the payload stream
//! ends with an error (the codec never sees the frame), the socket stops reading (so the
//! peer's further bytes are not even taken in by the kernel), and the refusal is kept for
//! the session to close with the right code: 1009 for too big, 1002 for a bad control frame.
//!
//! ```
//! use linli_server::http::frame_limit::{FrameLimit, Refusal};
//! let mut limit = FrameLimit::new(1024);
//! // FIN + binary, masked, 64-bit length: 4 GiB. Refused with the header's last byte.
//! let header = [0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4];
//! assert_eq!(limit.feed(&header), Err(Refusal::TooBig { announced: 4 << 30, limit: 1024 }));
//! ```

use super::socket::SocketControl;
use actix_web::dev;
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

/// Why a frame was refused at its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The frame, or the message its fragments add up to, is over the limit.
    #[error("a frame or message of {announced} bytes is over the limit of {limit}")]
    TooBig { announced: u64, limit: u64 },
    /// A ping, pong or close frame longer than 125 bytes.
    #[error("a control frame of {0} bytes (at most 125)")]
    ControlTooLong(u64),
}

/// Where the parser is in the byte stream of client frames.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Reading a header: `have` of its bytes are in `buf`.
    Header { buf: [u8; 14], have: usize },
    /// Skipping `left` payload bytes of the current frame.
    Payload { left: u64 },
}

/// Parses the frame headers in a stream of client bytes (any chunking) and checks every
/// announced length as soon as the header is complete. Keeps 14 bytes of state, whatever
/// the frames' sizes. Framing errors other than lengths are left to the codec.
#[derive(Debug, Clone)]
pub struct FrameLimit {
    limit: u64,
    state: State,
    /// Bytes announced so far by the fragments of an unfinished message.
    message: u64,
}

impl FrameLimit {
    pub fn new(max_frame_bytes: usize) -> Self {
        FrameLimit { limit: max_frame_bytes as u64, state: State::Header { buf: [0; 14], have: 0 }, message: 0 }
    }

    /// Takes the next bytes of the stream; refuses as soon as a header is over a limit
    /// (what follows that header in `chunk` is not looked at).
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), Refusal> {
        while !chunk.is_empty() {
            match &mut self.state {
                State::Payload { left } => {
                    let n = (*left).min(chunk.len() as u64);
                    *left -= n;
                    chunk = &chunk[n as usize..];
                    if *left == 0 {
                        self.state = State::Header { buf: [0; 14], have: 0 };
                    }
                }
                State::Header { buf, have } => {
                    buf[*have] = chunk[0];
                    *have += 1;
                    chunk = &chunk[1..];
                    if let Some(len) = header_complete(&buf[..*have]) {
                        let first = buf[0];
                        self.check(first, len)?;
                        self.state = if len == 0 {
                            State::Header { buf: [0; 14], have: 0 }
                        } else {
                            State::Payload { left: len }
                        };
                    }
                }
            }
        }
        Ok(())
    }

    fn check(&mut self, first: u8, len: u64) -> Result<(), Refusal> {
        let fin = first & 0x80 != 0;
        let opcode = first & 0x0f;
        if opcode >= 0x8 {
            // Control frames may come between fragments and do not count toward the message.
            return if len > 125 { Err(Refusal::ControlTooLong(len)) } else { Ok(()) };
        }
        // A continuation adds to the message; a text or binary frame starts a new one.
        let total = if opcode == 0x0 { self.message.saturating_add(len) } else { len };
        if total > self.limit {
            return Err(Refusal::TooBig { announced: total, limit: self.limit });
        }
        self.message = if fin { 0 } else { total };
        Ok(())
    }
}

/// The announced payload length, once `h` holds a whole header (2 to 14 bytes).
fn header_complete(h: &[u8]) -> Option<u64> {
    if h.len() < 2 {
        return None;
    }
    let masked = h[1] & 0x80 != 0;
    let mask = if masked { 4 } else { 0 };
    let (ext, len) = match h[1] & 0x7f {
        126 => (2, h.get(2..4).map(|b| u64::from(u16::from_be_bytes([b[0], b[1]])))),
        127 => (8, h.get(2..10).map(|b| u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))),
        n => (0, Some(u64::from(n))),
    };
    if h.len() < 2 + ext + mask {
        return None;
    }
    len
}

/// The request payload of a WebSocket, passed through a [`FrameLimit`].
struct LimitedPayload {
    inner: dev::Payload,
    limit: FrameLimit,
    socket: Option<SocketControl>,
    refused: Arc<OnceLock<Refusal>>,
}

impl Stream for LimitedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.refused.get().is_some() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => match this.limit.feed(&bytes) {
                Ok(()) => Poll::Ready(Some(Ok(bytes))),
                Err(refusal) => {
                    // Read no more: what the peer sends after this header never reaches us.
                    if let Some(socket) = &this.socket {
                        socket.stop_reading();
                    }
                    let _ = this.refused.set(refusal);
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::other(refusal)))))
                }
            },
            other => other,
        }
    }
}

/// Why the payload was cut, once it was.
#[derive(Debug, Clone, Default)]
pub struct Refused(Arc<OnceLock<Refusal>>);

impl Refused {
    pub fn get(&self) -> Option<Refusal> {
        self.0.get().copied()
    }
}

/// Wraps a WebSocket request's payload so that an over-limit frame is refused at its
/// header (see the module docs). `socket`, when known, stops reading on a refusal.
pub async fn limit_payload(
    req: &actix_web::HttpRequest,
    body: actix_web::web::Payload,
    max_frame_bytes: usize,
    socket: Option<SocketControl>,
) -> Result<(actix_web::web::Payload, Refused), actix_web::Error> {
    use actix_web::FromRequest;
    let refused = Refused::default();
    let limited = LimitedPayload {
        inner: body.into_inner(),
        limit: FrameLimit::new(max_frame_bytes),
        socket,
        refused: refused.0.clone(),
    };
    let boxed: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(limited);
    let mut payload = dev::Payload::from(boxed);
    Ok((actix_web::web::Payload::from_request(req, &mut payload).await?, refused))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame header announcing `len`.
    fn header(first: u8, len: u64) -> Vec<u8> {
        let mut h = vec![first];
        match len {
            0..=125 => h.push(0x80 | len as u8),
            126..=0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend_from_slice(&len.to_be_bytes());
            }
        }
        h.extend_from_slice(&[9, 8, 7, 6]);
        h
    }

    fn frame(first: u8, len: usize) -> Vec<u8> {
        let mut f = header(first, len as u64);
        f.extend(std::iter::repeat_n(0x55, len));
        f
    }

    #[test]
    fn frames_within_the_limit_pass_in_any_chunking() {
        let mut stream = Vec::new();
        for (first, len) in [(0x82, 0), (0x82, 125), (0x82, 126), (0x82, 65_535), (0x82, 65_536), (0x89, 125)] {
            stream.extend(frame(first, len));
        }
        // Fragments adding up to the limit exactly, with a ping between them.
        stream.extend(frame(0x02, 40_000));
        stream.extend(frame(0x89, 4));
        stream.extend(frame(0x80, 25_536));
        for chunk in [1, 2, 3, 7, 13, 4096, stream.len()] {
            let mut limit = FrameLimit::new(65_536);
            for piece in stream.chunks(chunk) {
                limit.feed(piece).unwrap_or_else(|e| panic!("chunks of {chunk}: {e}"));
            }
            assert!(matches!(limit.state, State::Header { have: 0, .. }), "chunks of {chunk}: ends between frames");
        }
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_at_its_header() {
        for len in [65_537, 1 << 20, 4 << 30, u64::MAX >> 1] {
            let h = header(0x82, len);
            let mut limit = FrameLimit::new(65_536);
            // Every byte of the header but the last is accepted: the length is not known yet.
            limit.feed(&h[..h.len() - 1]).expect("an incomplete header");
            assert_eq!(limit.feed(&h[h.len() - 1..]), Err(Refusal::TooBig { announced: len, limit: 65_536 }));
        }
    }

    #[test]
    fn fragments_over_the_limit_in_sum_are_refused_at_the_header_that_goes_over() {
        let mut limit = FrameLimit::new(65_536);
        limit.feed(&frame(0x02, 40_000)).expect("first fragment");
        limit.feed(&frame(0x8a, 0)).expect("a pong between fragments does not count");
        assert_eq!(limit.feed(&header(0x00, 30_000)), Err(Refusal::TooBig { announced: 70_000, limit: 65_536 }));
        // A finished message does not count toward the next one.
        let mut limit = FrameLimit::new(65_536);
        limit.feed(&frame(0x02, 40_000)).expect("first fragment");
        limit.feed(&frame(0x80, 20_000)).expect("last fragment");
        limit.feed(&frame(0x82, 65_536)).expect("a new message");
    }

    #[test]
    fn a_long_control_frame_is_refused_at_its_header() {
        let mut limit = FrameLimit::new(65_536);
        assert_eq!(limit.feed(&header(0x89, 4 << 30)), Err(Refusal::ControlTooLong(4 << 30)));
        let mut limit = FrameLimit::new(65_536);
        assert_eq!(limit.feed(&header(0x88, 126)), Err(Refusal::ControlTooLong(126)));
    }
}

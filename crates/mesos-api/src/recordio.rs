//! RecordIO framing of the Mesos v1 event streams.
//!
//! The response to a scheduler `SUBSCRIBE` (and the executor and operator streaming APIs) is
//! a sequence of *records*, each the decimal ASCII length of its data in bytes, a line feed,
//! then exactly that many bytes of data (one JSON or protobuf `Event`):
//!
//! ```text
//! records     = *record
//! record      = record-size LF record-data
//! record-size = 1*DIGIT          ; decimal ASCII, uint64, length of record-data in BYTES, never 0
//! record-data = record-size(OCTET)
//! ```
//!
//! There is no newline after the data: the next record's length follows at once, as in
//! `128\n{"type":"SUBSCRIBED",...}20\n{"type":"HEARTBEAT"}`. HTTP chunk boundaries are
//! unrelated to record boundaries (proxies re-chunk), so a reader must buffer across chunks.
//!
//! This module does no IO. [`encode`] appends one framed record to a buffer; [`Decoder`] is a
//! streaming decoder fed with byte chunks of any size, split anywhere, that hands back whole
//! records without copying them a second time; [`decode_all`] decodes a complete buffer.
//! Every malformed input gives a typed [`RecordIoError`] whose message says what was wrong,
//! and nothing here panics on any input.
//!
//! ```
//! use bytes::BytesMut;
//! use herd_mesos_api::recordio::{self, Decoder};
//!
//! let mut wire = BytesMut::new();
//! recordio::encode(br#"{"type":"HEARTBEAT"}"#, &mut wire);
//! assert_eq!(&wire[..], b"20\n{\"type\":\"HEARTBEAT\"}");
//!
//! let mut decoder = Decoder::default();
//! decoder.push(&wire[..7]); // chunks may split a record anywhere
//! assert_eq!(decoder.next_record()?, None);
//! decoder.push(&wire[7..]);
//! assert_eq!(decoder.next_record()?.as_deref(), Some(&br#"{"type":"HEARTBEAT"}"#[..]));
//! assert_eq!(decoder.next_record()?, None);
//! decoder.finish()?; // at end of stream: nothing left half-received
//! # Ok::<(), recordio::RecordIoError>(())
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Default cap on the size of one record's data, in bytes: 64 MiB.
///
/// A length prefix is an arbitrary 64-bit number, so without a cap one corrupt or hostile
/// prefix would make the decoder buffer without bound. The biggest events Mesos sends are
/// `OFFERS` (and `SUBSCRIBED`) on large clusters, which stay in the low megabytes; 64 MiB
/// leaves an order of magnitude of headroom while bounding memory, and matches the message
/// size limit protobuf long used by default (`kDefaultTotalBytesLimit`).
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Most digits a length prefix may have: `u64::MAX` (18446744073709551615) has 20.
///
/// A prefix with more digits is rejected as soon as the 21st digit arrives, so a stream that
/// is all digits cannot make the decoder buffer forever.
pub const MAX_LENGTH_DIGITS: usize = 20;

/// How many bytes of a bad length prefix an error message shows.
const PREVIEW_BYTES: usize = 16;

/// Why a RecordIO stream could not be decoded.
///
/// `offset` fields are the position in the whole stream (counting from the first byte ever
/// pushed into the [`Decoder`]) of the first byte of the faulty record, i.e. of its length
/// prefix. Byte strings are shown escaped (`\n`, `\x00`, `\"`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordIoError {
    /// The length prefix contains a byte that is neither an ASCII digit nor the terminating
    /// line feed; typically the peer answered with something else entirely, such as an HTML
    /// error page from a proxy or a plain-text HTTP error body.
    #[error(
        "invalid RecordIO length prefix at stream offset {offset}: byte {position} of the \
         prefix is '{byte}', not an ASCII digit or '\\n'; the record starts with \
         \"{preview}\" (the peer did not send a RecordIO stream: an HTML page from a proxy \
         or a plain HTTP error body?)",
        byte = escape(&[*byte])
    )]
    InvalidLengthPrefix {
        /// Stream offset of the first byte of the length prefix.
        offset: u64,
        /// Index, within the prefix, of the offending byte.
        position: usize,
        /// The offending byte.
        byte: u8,
        /// The first bytes of the prefix (at least 16 if that many were buffered, and up to
        /// and including the offending byte), escaped.
        preview: String,
    },

    /// A record starts with a line feed: the length prefix is empty. A common cause is a
    /// sender that writes a newline after each record's data, which RecordIO does not have.
    #[error(
        "empty RecordIO length prefix at stream offset {offset}: a record must start with its \
         decimal length, found '\\n' (a newline written after the previous record's data? \
         RecordIO has none)"
    )]
    EmptyLengthPrefix {
        /// Stream offset of the line feed.
        offset: u64,
    },

    /// The length prefix is not a 64-bit number: more than [`MAX_LENGTH_DIGITS`] digits, or
    /// 20 digits above `u64::MAX`.
    #[error(
        "RecordIO length prefix at stream offset {offset} is too long to be a 64-bit length: \
         \"{preview}\" (at most 20 digits, up to 18446744073709551615)"
    )]
    LengthPrefixTooLong {
        /// Stream offset of the first byte of the length prefix.
        offset: u64,
        /// The digits received (at most 21), escaped.
        preview: String,
    },

    /// The length prefix is zero; Mesos never sends an empty record.
    #[error(
        "RecordIO record at stream offset {offset} has length 0; record-size is never 0 in a \
         Mesos stream"
    )]
    ZeroLength {
        /// Stream offset of the first byte of the length prefix.
        offset: u64,
    },

    /// The length prefix announces a record bigger than the decoder's cap.
    #[error(
        "RecordIO record at stream offset {offset} is {length} bytes long, over the limit of \
         {max} bytes per record (raise Decoder::new's max_record_bytes if the peer really \
         sends records this big)"
    )]
    RecordTooLarge {
        /// Stream offset of the first byte of the length prefix.
        offset: u64,
        /// The announced length of the record's data.
        length: u64,
        /// The decoder's `max_record_bytes`.
        max: usize,
    },

    /// The stream ended in the middle of a length prefix.
    #[error(
        "RecordIO stream ended inside a length prefix at stream offset {offset}: expected \
         decimal digits then '\\n', received {received} byte(s) \"{preview}\" and no '\\n'"
    )]
    TruncatedLengthPrefix {
        /// Stream offset of the first byte of the length prefix.
        offset: u64,
        /// How many bytes of the prefix were received (all digits).
        received: usize,
        /// The bytes received, escaped.
        preview: String,
    },

    /// The stream ended in the middle of a record's data.
    #[error(
        "RecordIO stream ended inside a record at stream offset {offset}: expected {expected} \
         bytes of record data, received {received}"
    )]
    TruncatedRecord {
        /// Stream offset of the first byte of the record's length prefix.
        offset: u64,
        /// The record's announced data length.
        expected: usize,
        /// How many bytes of its data were received.
        received: usize,
    },
}

/// Number of bytes [`encode`] writes for a record of `record_len` bytes: the decimal digits
/// of the length, the line feed and the data (saturating at `usize::MAX`).
#[must_use]
pub fn encoded_len(record_len: usize) -> usize {
    let digits = record_len.checked_ilog10().map_or(1, |d| d as usize + 1);
    record_len.saturating_add(digits + 1)
}

/// Appends one framed record to `out`: `record.len()` in decimal ASCII, `\n`, then `record`
/// itself, with no trailing newline.
///
/// An empty `record` is encoded as `0\n`, faithfully, rather than refused or skipped: the
/// encoder stays a total function and callers never lose a record silently. Mesos never sends
/// an empty record and [`Decoder`] rejects one ([`RecordIoError::ZeroLength`]), so a peer
/// should never be sent one; the events a master writes are JSON or protobuf and never
/// empty.
pub fn encode(record: &[u8], out: &mut BytesMut) {
    let mut digits = [0u8; MAX_LENGTH_DIGITS];
    let mut start = digits.len();
    let mut n = record.len();
    // `usize` has at most 20 decimal digits on every supported target; the bound check keeps
    // this loop panic-free regardless.
    while start > 0 {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.reserve(digits.len() - start + 1 + record.len());
    out.extend_from_slice(&digits[start..]);
    out.put_u8(b'\n');
    out.extend_from_slice(record);
}

/// Frames one record into a new buffer; see [`encode`].
#[must_use]
pub fn encode_to_bytes(record: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(encoded_len(record.len()));
    encode(record, &mut out);
    out.freeze()
}

/// Decodes a complete RecordIO stream held in one buffer, with records of at most
/// `max_record_bytes` bytes each.
///
/// Fails if any record is malformed or if the buffer ends inside a record (see
/// [`Decoder::finish`]). An empty buffer is a valid stream of no records.
pub fn decode_all(bytes: &[u8], max_record_bytes: usize) -> Result<Vec<Bytes>, RecordIoError> {
    let mut decoder = Decoder::new(max_record_bytes);
    decoder.push(bytes);
    let mut records = Vec::new();
    while let Some(record) = decoder.next_record()? {
        records.push(record);
    }
    decoder.finish()?;
    Ok(records)
}

/// Where the decoder is within the current record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Reading a length prefix; the first `scanned` buffered bytes are known to be digits.
    Length {
        /// Number of leading buffered bytes already checked (all digits, at most 20).
        scanned: usize,
    },
    /// The prefix (of `header_len` bytes, already removed from the buffer) announced `len`
    /// bytes of data, which start at the front of the buffer.
    Data {
        /// Length of the prefix including its line feed.
        header_len: usize,
        /// Length of the record's data.
        len: usize,
    },
    /// The stream is malformed; every later call reports this error again.
    Failed(RecordIoError),
}

/// Result of looking for a complete length prefix at the front of a buffer.
enum Header {
    /// No line feed yet; all `scanned` bytes are digits.
    Incomplete { scanned: usize },
    /// A valid prefix of `header_len` bytes (line feed included) announcing `len` bytes.
    Complete { header_len: usize, len: usize },
}

/// Looks for a length prefix at the front of `buf`, whose first `scanned` bytes were already
/// checked to be digits. `offset` is the stream offset of `buf[0]`, for error messages.
fn scan_header(buf: &[u8], scanned: usize, offset: u64, max: usize) -> Result<Header, RecordIoError> {
    for (position, &byte) in buf.iter().enumerate().skip(scanned) {
        match byte {
            b'0'..=b'9' if position < MAX_LENGTH_DIGITS => {}
            b'0'..=b'9' => {
                return Err(RecordIoError::LengthPrefixTooLong {
                    offset,
                    preview: escape(&buf[..=position]),
                });
            }
            b'\n' if position == 0 => return Err(RecordIoError::EmptyLengthPrefix { offset }),
            b'\n' => {
                let digits = &buf[..position];
                let length = parse_decimal(digits)
                    .ok_or_else(|| RecordIoError::LengthPrefixTooLong { offset, preview: escape(digits) })?;
                if length == 0 {
                    return Err(RecordIoError::ZeroLength { offset });
                }
                let too_large = RecordIoError::RecordTooLarge { offset, length, max };
                if length > u64::try_from(max).unwrap_or(u64::MAX) {
                    return Err(too_large);
                }
                let len = usize::try_from(length).map_err(|_| too_large)?;
                return Ok(Header::Complete { header_len: position + 1, len });
            }
            _ => {
                let shown = PREVIEW_BYTES.max(position + 1).min(buf.len());
                return Err(RecordIoError::InvalidLengthPrefix {
                    offset,
                    position,
                    byte,
                    preview: escape(&buf[..shown]),
                });
            }
        }
    }
    Ok(Header::Incomplete { scanned: buf.len() })
}

/// Parses ASCII digits as a `u64`; `None` on overflow (the caller has checked the digits).
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| acc.checked_mul(10)?.checked_add(u64::from(d.wrapping_sub(b'0'))))
}

/// Escapes bytes for an error message (`\n`, `\"`, `\xff`, ...).
fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Converts a buffer length to a stream offset increment.
fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Streaming RecordIO decoder.
///
/// Feed it the stream's bytes with [`push`](Self::push), in chunks of any size split at any
/// byte, then call [`next_record`](Self::next_record) until it returns `Ok(None)` (more bytes
/// needed). When the stream ends, [`finish`](Self::finish) tells whether it ended cleanly
/// between records.
///
/// Each byte is examined once: the decoder remembers how much of a length prefix it has
/// checked and, once the prefix is complete, the record's length, so feeding a large record
/// in many small chunks costs time linear in its size. Records are split off the internal
/// buffer and returned as [`Bytes`] without being copied again.
///
/// Memory is bounded by `max_record_bytes` (plus whatever the caller pushes at once): a
/// length prefix announcing a bigger record is an error before any of its data is buffered,
/// and a prefix can be at most [`MAX_LENGTH_DIGITS`] digits.
///
/// Errors are final: after [`next_record`](Self::next_record) returned an error, the stream
/// cannot be resynchronised, every later call returns the same error and
/// [`push`](Self::push) discards its input.
#[derive(Debug, Clone)]
pub struct Decoder {
    /// Cap on one record's data length.
    max_record_bytes: usize,
    /// Bytes received and not yet returned (minus the current record's prefix once parsed).
    buf: BytesMut,
    /// Position within the current record.
    state: State,
    /// Stream offset of the first byte of the current record's length prefix.
    offset: u64,
}

impl Default for Decoder {
    /// A decoder with the [`DEFAULT_MAX_RECORD_BYTES`] cap.
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RECORD_BYTES)
    }
}

impl Decoder {
    /// Creates a decoder that rejects records whose data is longer than `max_record_bytes`
    /// ([`RecordIoError::RecordTooLarge`]). [`DEFAULT_MAX_RECORD_BYTES`] suits Mesos streams.
    #[must_use]
    pub fn new(max_record_bytes: usize) -> Self {
        Self { max_record_bytes, buf: BytesMut::new(), state: State::Length { scanned: 0 }, offset: 0 }
    }

    /// The cap on one record's data length this decoder was created with.
    #[must_use]
    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }

    /// Number of bytes pushed but not yet returned as (or consumed as framing of) a record.
    #[must_use]
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Appends the next chunk of the stream. Chunks may split records (and their length
    /// prefixes) anywhere. Does nothing once the decoder has failed.
    pub fn push(&mut self, chunk: &[u8]) {
        if !matches!(self.state, State::Failed(_)) {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Returns the next complete record, `Ok(None)` if more bytes are needed first, or an
    /// error if the stream is malformed (final: see the type's documentation).
    pub fn next_record(&mut self) -> Result<Option<Bytes>, RecordIoError> {
        loop {
            match self.state {
                State::Failed(ref error) => return Err(error.clone()),
                State::Length { scanned } => {
                    match scan_header(&self.buf, scanned, self.offset, self.max_record_bytes) {
                        Ok(Header::Incomplete { scanned }) => {
                            self.state = State::Length { scanned };
                            return Ok(None);
                        }
                        Ok(Header::Complete { header_len, len }) => {
                            self.buf.advance(header_len);
                            self.state = State::Data { header_len, len };
                        }
                        Err(error) => {
                            self.state = State::Failed(error.clone());
                            self.buf = BytesMut::new();
                            return Err(error);
                        }
                    }
                }
                State::Data { header_len, len } => {
                    if self.buf.len() < len {
                        return Ok(None);
                    }
                    let record = self.buf.split_to(len).freeze();
                    self.offset = self.offset.saturating_add(as_u64(header_len)).saturating_add(as_u64(len));
                    self.state = State::Length { scanned: 0 };
                    return Ok(Some(record));
                }
            }
        }
    }

    /// Checks, at the end of the stream, that it ended cleanly between two records.
    ///
    /// Fails with [`RecordIoError::TruncatedLengthPrefix`] or
    /// [`RecordIoError::TruncatedRecord`] (naming the bytes expected and received) if the last
    /// record is incomplete, and with the decoder's error if it has failed. Records still
    /// buffered and not yet taken with [`next_record`](Self::next_record) are checked too,
    /// without being consumed: a malformed one is reported here.
    pub fn finish(&self) -> Result<(), RecordIoError> {
        let mut offset = self.offset;
        let mut state = self.state.clone();
        let mut rest: &[u8] = &self.buf;
        loop {
            match state {
                State::Failed(error) => return Err(error),
                State::Length { scanned } => {
                    if rest.is_empty() {
                        return Ok(());
                    }
                    match scan_header(rest, scanned, offset, self.max_record_bytes)? {
                        Header::Incomplete { .. } => {
                            return Err(RecordIoError::TruncatedLengthPrefix {
                                offset,
                                received: rest.len(),
                                preview: escape(rest),
                            });
                        }
                        Header::Complete { header_len, len } => {
                            rest = &rest[header_len..];
                            state = State::Data { header_len, len };
                        }
                    }
                }
                State::Data { header_len, len } => {
                    if rest.len() < len {
                        return Err(RecordIoError::TruncatedRecord {
                            offset,
                            expected: len,
                            received: rest.len(),
                        });
                    }
                    rest = &rest[len..];
                    offset = offset.saturating_add(as_u64(header_len)).saturating_add(as_u64(len));
                    state = State::Length { scanned: 0 };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEARTBEAT: &[u8] = br#"{"type":"HEARTBEAT"}"#;

    /// Decodes `chunks` pushed one after the other, draining after each push.
    fn decode_chunks<'a>(
        chunks: impl IntoIterator<Item = &'a [u8]>,
        max: usize,
    ) -> Result<Vec<Bytes>, RecordIoError> {
        let mut decoder = Decoder::new(max);
        let mut records = Vec::new();
        for chunk in chunks {
            decoder.push(chunk);
            while let Some(record) = decoder.next_record()? {
                records.push(record);
            }
        }
        decoder.finish()?;
        Ok(records)
    }

    fn encode_all<T: AsRef<[u8]>>(records: &[T]) -> BytesMut {
        let mut out = BytesMut::new();
        for record in records {
            encode(record.as_ref(), &mut out);
        }
        out
    }

    /// A JSON object of exactly `len` bytes (len >= 12).
    fn json_of_len(kind: &str, len: usize) -> Vec<u8> {
        let head = format!(r#"{{"type":"{kind}","pad":""#);
        let mut json = head.into_bytes();
        let pad = len - json.len() - 2;
        json.extend(std::iter::repeat_n(b'x', pad));
        json.extend_from_slice(b"\"}");
        assert_eq!(json.len(), len);
        json
    }

    /// Records whose lengths cross digit-count boundaries (1, 2 and 3 digits).
    fn sample_records() -> Vec<Vec<u8>> {
        vec![
            b"a".to_vec(),
            b"123456789".to_vec(),
            b"0123456789".to_vec(),
            HEARTBEAT.to_vec(),
            b"\n\n0\n".to_vec(),
            json_of_len("OFFERS", 100),
            b"x".to_vec(),
        ]
    }

    #[test]
    fn encodes_exact_bytes() {
        let mut out = BytesMut::new();
        encode(HEARTBEAT, &mut out);
        assert_eq!(&out[..], b"20\n{\"type\":\"HEARTBEAT\"}");
        assert_eq!(&encode_to_bytes(b"x")[..], b"1\nx");
        assert_eq!(&encode_to_bytes(b"")[..], b"0\n");
        let big = vec![7u8; 12345];
        let framed = encode_to_bytes(&big);
        assert_eq!(&framed[..6], b"12345\n");
        assert_eq!(&framed[6..], &big[..]);
        for len in [0, 1, 9, 10, 99, 100, 12345] {
            assert_eq!(encoded_len(len), encode_to_bytes(&vec![0; len]).len());
        }
        assert_eq!(encoded_len(usize::MAX), usize::MAX);
    }

    #[test]
    fn decodes_documented_example() {
        let subscribed = json_of_len("SUBSCRIBED", 128);
        let mut wire = b"128\n".to_vec();
        wire.extend_from_slice(&subscribed);
        wire.extend_from_slice(b"20\n{\"type\":\"HEARTBEAT\"}");
        let records = decode_all(&wire, DEFAULT_MAX_RECORD_BYTES).unwrap();
        assert_eq!(records, vec![Bytes::from(subscribed), Bytes::from_static(HEARTBEAT)]);
        assert_eq!(&encode_all(&records)[..], &wire[..]);
    }

    #[test]
    fn round_trip() {
        let records = sample_records();
        let wire = encode_all(&records);
        let decoded = decode_all(&wire, DEFAULT_MAX_RECORD_BYTES).unwrap();
        assert_eq!(decoded, records);
        assert_eq!(decode_all(b"", 10).unwrap(), Vec::<Bytes>::new());
    }

    #[test]
    fn many_records_in_one_chunk_and_none_lost_before_drain() {
        let records: Vec<Vec<u8>> = (1..=500).map(|n| vec![b'r'; n]).collect();
        let wire = encode_all(&records);
        let mut decoder = Decoder::default();
        decoder.push(&wire);
        decoder.finish().unwrap(); // complete records pending are fine
        let mut decoded = Vec::new();
        while let Some(record) = decoder.next_record().unwrap() {
            decoded.push(record);
        }
        assert_eq!(decoded, records);
        assert_eq!(decoder.buffered_len(), 0);
        decoder.finish().unwrap();
    }

    #[test]
    fn every_split_point() {
        let records = sample_records();
        let wire = encode_all(&records);
        for split in 0..=wire.len() {
            let (a, b) = wire.split_at(split);
            let decoded = decode_chunks([a, b], DEFAULT_MAX_RECORD_BYTES)
                .unwrap_or_else(|e| panic!("split at {split}: {e}"));
            assert_eq!(decoded, records, "split at {split}");
        }
    }

    #[test]
    fn every_pair_of_split_points() {
        let records: Vec<&[u8]> = vec![b"ab", b"0123456789", HEARTBEAT, b"z"];
        let wire = encode_all(&records);
        for i in 0..=wire.len() {
            for j in i..=wire.len() {
                let chunks = [&wire[..i], &wire[i..j], &wire[j..]];
                let decoded = decode_chunks(chunks, 64).unwrap();
                assert_eq!(decoded, records, "splits at {i}, {j}");
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let records = sample_records();
        let wire = encode_all(&records);
        let boundaries: Vec<usize> = records
            .iter()
            .scan(0, |end, r| {
                *end += encoded_len(r.len());
                Some(*end)
            })
            .collect();
        let mut decoder = Decoder::default();
        let mut decoded = Vec::new();
        for (i, byte) in wire.iter().enumerate() {
            decoder.push(std::slice::from_ref(byte));
            while let Some(record) = decoder.next_record().unwrap() {
                decoded.push(record);
            }
            // EOF is clean exactly between records.
            assert_eq!(decoder.finish().is_ok(), boundaries.contains(&(i + 1)), "after {} bytes", i + 1);
        }
        assert_eq!(decoded, records);
        decoder.finish().unwrap();
    }

    #[test]
    fn record_after_newline_split_returns_none_then_record() {
        let mut decoder = Decoder::default();
        decoder.push(b"5\n");
        assert_eq!(decoder.next_record().unwrap(), None);
        assert_eq!(decoder.buffered_len(), 0);
        assert_eq!(
            decoder.finish(),
            Err(RecordIoError::TruncatedRecord { offset: 0, expected: 5, received: 0 })
        );
        decoder.push(b"hello3\nab");
        assert_eq!(decoder.next_record().unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(decoder.next_record().unwrap(), None);
        decoder.push(b"c");
        assert_eq!(decoder.next_record().unwrap().as_deref(), Some(&b"abc"[..]));
        decoder.finish().unwrap();
    }

    #[test]
    fn html_page_is_rejected_with_a_readable_message() {
        let page = b"<html><head><title>502 Bad Gateway</title></head></html>";
        let err = decode_all(page, DEFAULT_MAX_RECORD_BYTES).unwrap_err();
        assert_eq!(
            err,
            RecordIoError::InvalidLengthPrefix {
                offset: 0,
                position: 0,
                byte: b'<',
                preview: "<html><head><tit".to_string(),
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("<html><head><tit"), "{msg}");
        assert!(msg.contains("the peer did not send a RecordIO stream"), "{msg}");
        assert!(msg.contains("'<'"), "{msg}");
    }

    #[test]
    fn non_digit_after_digits_and_after_records() {
        let mut wire = encode_all(&[HEARTBEAT]).to_vec();
        wire.extend_from_slice(b"12\r\n{\"a\":\"bcdefg\"}");
        let err = decode_all(&wire, 100).unwrap_err();
        assert_eq!(
            err,
            RecordIoError::InvalidLengthPrefix {
                offset: 23,
                position: 2,
                byte: b'\r',
                preview: "12\\r\\n{\\\"a\\\":\\\"bcdefg".to_string(),
            }
        );
        assert!(err.to_string().contains("'\\r'"), "{err}");
        // Binary junk is escaped, and the offending byte is always shown.
        let err = decode_all(b"1234567890123456789\xff", 100).unwrap_err();
        let RecordIoError::InvalidLengthPrefix { position, preview, .. } = &err else { panic!("{err:?}") };
        assert_eq!(*position, 19);
        assert_eq!(preview, "1234567890123456789\\xff");
        assert!(err.to_string().contains("'\\xff'"), "{err}");
    }

    #[test]
    fn empty_length_prefix() {
        let err = decode_all(b"\n", 10).unwrap_err();
        assert_eq!(err, RecordIoError::EmptyLengthPrefix { offset: 0 });
        // The classic mistake: a newline after each record's data.
        let err = decode_all(b"3\nabc\n3\nabc", 10).unwrap_err();
        assert_eq!(err, RecordIoError::EmptyLengthPrefix { offset: 5 });
        assert!(err.to_string().contains("newline"), "{err}");
    }

    #[test]
    fn length_prefix_too_long_is_rejected_without_a_newline() {
        // 20 digits without a newline are still a possible prefix ...
        let mut decoder = Decoder::default();
        decoder.push(b"00000000000000000001");
        assert_eq!(decoder.next_record().unwrap(), None);
        // ... and so valid once the newline comes.
        decoder.push(b"\nx");
        assert_eq!(decoder.next_record().unwrap().as_deref(), Some(&b"x"[..]));

        // The 21st digit is an error at once, however the digits arrive.
        let mut decoder = Decoder::default();
        for _ in 0..20 {
            decoder.push(b"9");
            assert_eq!(decoder.next_record().unwrap(), None);
        }
        decoder.push(b"9");
        let err = decoder.next_record().unwrap_err();
        assert_eq!(err, RecordIoError::LengthPrefixTooLong { offset: 0, preview: "9".repeat(21) });
        assert!(err.to_string().contains("too long"), "{err}");
    }

    #[test]
    fn length_prefix_above_u64_max() {
        let err = decode_all(b"18446744073709551616\nx", usize::MAX).unwrap_err();
        assert_eq!(
            err,
            RecordIoError::LengthPrefixTooLong { offset: 0, preview: "18446744073709551616".to_string() }
        );
        // u64::MAX itself is a number, just too large.
        let err = decode_all(b"18446744073709551615\nx", usize::MAX - 1).unwrap_err();
        assert!(matches!(err, RecordIoError::RecordTooLarge { length: u64::MAX, .. }), "{err:?}");
    }

    #[test]
    fn zero_length() {
        assert_eq!(decode_all(b"0\n", 10).unwrap_err(), RecordIoError::ZeroLength { offset: 0 });
        let err = decode_all(b"1\na000\nb", 10).unwrap_err();
        assert_eq!(err, RecordIoError::ZeroLength { offset: 3 });
        assert!(err.to_string().contains("length 0"), "{err}");
        // An empty record from `encode` is refused by the decoder.
        assert!(decode_all(&encode_to_bytes(b""), 10).is_err());
    }

    #[test]
    fn record_over_the_cap() {
        assert_eq!(decode_all(b"10\n0123456789", 10).unwrap().len(), 1);
        let mut decoder = Decoder::new(10);
        assert_eq!(decoder.max_record_bytes(), 10);
        decoder.push(b"11\n");
        let err = decoder.next_record().unwrap_err();
        assert_eq!(err, RecordIoError::RecordTooLarge { offset: 0, length: 11, max: 10 });
        let msg = err.to_string();
        assert!(msg.contains("11 bytes") && msg.contains("10 bytes"), "{msg}");
        // A cap of 0 refuses everything, without panicking.
        assert!(decode_all(b"1\nx", 0).is_err());
    }

    #[test]
    fn truncated_length_prefix() {
        let err = decode_all(b"3\nabc12", 100).unwrap_err();
        assert_eq!(
            err,
            RecordIoError::TruncatedLengthPrefix { offset: 5, received: 2, preview: "12".to_string() }
        );
        let msg = err.to_string();
        assert!(msg.contains("received 2 byte"), "{msg}");
    }

    #[test]
    fn truncated_record() {
        let err = decode_all(b"3\nabc10\n0123", 100).unwrap_err();
        assert_eq!(err, RecordIoError::TruncatedRecord { offset: 5, expected: 10, received: 4 });
        let msg = err.to_string();
        assert!(msg.contains("expected 10") && msg.contains("received 4"), "{msg}");
    }

    #[test]
    fn finish_checks_pending_records_without_consuming_them() {
        let mut decoder = Decoder::new(100);
        decoder.push(b"1\na2\nbc3\nde");
        assert_eq!(
            decoder.finish(),
            Err(RecordIoError::TruncatedRecord { offset: 7, expected: 3, received: 2 })
        );
        assert_eq!(decoder.next_record().unwrap().as_deref(), Some(&b"a"[..]));
        let mut decoder = Decoder::new(100);
        decoder.push(b"1\nax\n");
        assert_eq!(
            decoder.finish(),
            Err(RecordIoError::InvalidLengthPrefix {
                offset: 3,
                position: 0,
                byte: b'x',
                preview: "x\\n".to_string(),
            })
        );
        assert_eq!(decoder.next_record().unwrap().as_deref(), Some(&b"a"[..]));
    }

    #[test]
    fn errors_are_final() {
        let mut decoder = Decoder::new(100);
        decoder.push(b"2\nab<html>");
        assert_eq!(decoder.next_record().unwrap().as_deref(), Some(&b"ab"[..]));
        let err = decoder.next_record().unwrap_err();
        assert!(matches!(err, RecordIoError::InvalidLengthPrefix { offset: 4, .. }));
        decoder.push(b"1\nx");
        assert_eq!(decoder.buffered_len(), 0);
        assert_eq!(decoder.next_record().unwrap_err(), err);
        assert_eq!(decoder.finish().unwrap_err(), err);
    }

    #[test]
    fn large_record_in_small_chunks() {
        let record = vec![b'q'; 3 * 1024 * 1024 + 7];
        let wire = encode_to_bytes(&record);
        let decoded = decode_chunks(wire.chunks(997), DEFAULT_MAX_RECORD_BYTES).unwrap();
        assert_eq!(decoded.len(), 1);
        assert_eq!(decoded[0], record);
    }

    #[test]
    fn real_mesos_stream() {
        let path =
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/mesos-samples/raw-recordio-stream.bin");
        let wire = std::fs::read(path).unwrap();
        let records = decode_all(&wire, DEFAULT_MAX_RECORD_BYTES).unwrap();
        assert!(records.len() > 2, "{} records", records.len());
        for (i, record) in records.iter().enumerate() {
            let value: serde_json::Value =
                serde_json::from_slice(record).unwrap_or_else(|e| panic!("record {i} is not JSON: {e}"));
            let object = value.as_object().unwrap_or_else(|| panic!("record {i}: {value}"));
            assert!(object["type"].is_string(), "record {i} has no type: {value}");
        }
        let first: serde_json::Value = serde_json::from_slice(&records[0]).unwrap();
        assert_eq!(first["type"], "SUBSCRIBED");
        let second: serde_json::Value = serde_json::from_slice(&records[1]).unwrap();
        assert_eq!(second["type"], "HEARTBEAT");
        // Re-encoding gives the exact bytes Mesos sent.
        assert_eq!(&encode_all(&records)[..], &wire[..]);
        // And so does decoding it in awkward chunks.
        assert_eq!(decode_chunks(wire.chunks(7), 4096).unwrap(), records);
    }

    /// Splits `bytes` at the given positions (taken modulo its length, in any order).
    fn split_at_points(bytes: &[u8], points: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for cut in cuts {
            chunks.push(bytes[start..cut].to_vec());
            start = cut;
        }
        chunks.push(bytes[start..].to_vec());
        chunks
    }

    proptest! {
        #[test]
        fn prop_round_trip_with_random_splits(
            records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..20),
            points in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            let wire = encode_all(&records);
            let chunks = split_at_points(&wire, &points);
            let decoded = decode_chunks(chunks.iter().map(Vec::as_slice), 300).unwrap();
            prop_assert_eq!(decoded, records);
        }

        #[test]
        fn prop_arbitrary_input_never_panics_and_ignores_chunking(
            bytes in prop::collection::vec(
                prop_oneof![4 => b'0'..=b'9', 2 => Just(b'\n'), 1 => any::<u8>()],
                0..200,
            ),
            points in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            let whole = decode_all(&bytes, 50);
            let chunks = split_at_points(&bytes, &points);
            let split = decode_chunks(chunks.iter().map(Vec::as_slice), 50);
            match (whole, split) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                // An invalid-prefix preview shows what was buffered, which depends on the
                // chunking; the kind of error and where it is do not.
                (Err(a), Err(b)) => {
                    match (&a, &b) {
                        (
                            RecordIoError::InvalidLengthPrefix { offset, position, byte, .. },
                            RecordIoError::InvalidLengthPrefix {
                                offset: o, position: p, byte: b, ..
                            },
                        ) => prop_assert_eq!((offset, position, byte), (o, p, b)),
                        _ => prop_assert_eq!(a, b),
                    }
                }
                (a, b) => prop_assert!(false, "whole: {:?}, split: {:?}", a, b),
            }
        }
    }
}

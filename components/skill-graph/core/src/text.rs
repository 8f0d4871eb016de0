//! Text normalisation shared by keyword learning, validation and the router, so that a
//! keyword and a message are always compared in the same form.

/// Whether `c` belongs to a word. Apostrophes stay inside words ("what's").
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\''
}

/// Lower-cases `text` and turns every run of non-word characters into one space, without
/// leading or trailing space: "Deploy  the API-gateway!" -> "deploy the api gateway".
pub fn canonicalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    canonicalize_into(text, &mut out);
    out
}

/// [`canonicalize`] as bytes into a reused buffer (cleared first).
pub fn canonicalize_bytes_into(text: &str, out: &mut Vec<u8>) {
    out.clear();
    // An empty buffer is valid UTF-8: its allocation is reused.
    let mut s = String::from_utf8(std::mem::take(out)).unwrap_or_default();
    canonicalize_into(text, &mut s);
    *out = s.into_bytes();
}

/// Spaces [`word_spans_into`] leaves after the last word.
pub const WORD_PADDING: usize = 8;

/// The words of `text` in canonical form, without building the canonical string: the
/// router's hot path. `mapped` receives `text` with word bytes lower-cased and every
/// other byte a space (same length, so separators are not collapsed), `spans` the
/// `[start, end)` of each word in it. The words, joined by single spaces, are
/// [`canonicalize`]`(text)`.
///
/// `mapped` ends with at least [`WORD_PADDING`] spaces after the last word, so a reader
/// may load eight bytes from anywhere in a word.
///
/// ASCII text is mapped with byte arithmetic the compiler turns into SIMD, and the
/// words are found 64 bytes at a time from bitmasks, so the cost is per word, not per
/// byte, and nothing branches on a word boundary. Other text goes through
/// [`canonicalize`], whose single spaces are then the separators.
pub fn word_spans_into(text: &str, mapped: &mut Vec<u8>, spans: &mut Vec<[u32; 2]>) {
    mapped.clear();
    spans.clear();
    if !text.is_ascii() {
        canonicalize_bytes_into(text, mapped);
        mapped.extend_from_slice(&[b' '; WORD_PADDING]);
        let mut start = 0;
        for (i, &b) in mapped.iter().enumerate() {
            if b == b' ' {
                if i > start {
                    spans.push([start as u32, i as u32]);
                }
                start = i + 1;
            }
        }
        return;
    }
    let bytes = text.as_bytes();
    // Padding: whole 8-byte chunks, and at least eight separators after the last word.
    mapped.resize(bytes.len().next_multiple_of(8) + WORD_PADDING, b' ');
    for (m, &b) in mapped.iter_mut().zip(bytes) {
        // Digits and the apostrophe already have the 0x20 bit, so `b | 0x20` is the
        // canonical form of every word byte.
        let lower = b | 0x20;
        let is_word = (lower.wrapping_sub(b'a') < 26) | (b.wrapping_sub(b'0') < 10) | (b == b'\'');
        *m = if is_word { lower } else { b' ' };
    }
    const SPACES: u64 = 0x2020_2020_2020_2020;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Gathers the high bit of each byte into 8 bits, byte 0 lowest.
    const GATHER: u64 = 0x0102_0408_1020_4080;
    // Word edges alternate start, end, start, ...: written in order without a branch
    // on which they are, they are the spans. A word and its separator take two bytes
    // at least, so there are at most `mapped.len() / 2` of them.
    let mut edges_at = std::mem::take(spans);
    edges_at.resize(mapped.len() / 2 + 1, [0, 0]);
    let flat = edges_at.as_flattened_mut();
    let (mut n, mut carry) = (0usize, 0u64);
    for (block, chunk64) in mapped.chunks(64).enumerate() {
        // Bit i: byte i of this block is a word byte (mapped bytes are ASCII, so adding
        // 0x7f to a byte never carries into the next).
        let mut word = 0u64;
        for (k, c) in chunk64.chunks_exact(8).enumerate() {
            let v = u64::from_le_bytes(c.try_into().unwrap_or([b' '; 8])) ^ SPACES;
            let high = (v + LOW7) & HIGH;
            word |= ((high >> 7).wrapping_mul(GATHER) >> 56) << (8 * k);
        }
        let mut edges = word ^ (word << 1 | carry);
        carry = word >> 63;
        while edges != 0 {
            flat[n] = (block * 64) as u32 + edges.trailing_zeros();
            n += 1;
            edges &= edges - 1;
        }
    }
    // The padding ends every word, so `n` is even.
    edges_at.truncate(n / 2);
    *spans = edges_at;
}

/// [`canonicalize`] into a reused buffer (cleared first).
pub fn canonicalize_into(text: &str, out: &mut String) {
    out.clear();
    let mut pending_space = false;
    if text.is_ascii() {
        for &b in text.as_bytes() {
            if b.is_ascii_alphanumeric() || b == b'\'' {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.push(b.to_ascii_lowercase() as char);
            } else {
                pending_space = true;
            }
        }
        return;
    }
    for c in text.chars() {
        if is_word_char(c) {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
}

/// The words of `text` in canonical form.
pub fn words(text: &str) -> Vec<String> {
    canonicalize(text)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// FNV-1a's 64-bit starting value.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits, continued from `h` over `bytes` (start from [`FNV_OFFSET`]): the
/// project's one stable hash, the same across platforms, runtimes and Rust releases
/// (unlike `DefaultHasher`), with no dependency. Graph versions, cache keys and event
/// ids are made with it.
pub fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! canon {
        ($($name:ident: $input:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() { assert_eq!(canonicalize($input), $want); }
        )*};
    }

    #[test]
    fn byte_form_matches_string_form() {
        for t in [
            "Deploy  the API-gateway!",
            "Ärger ÜBER Straße",
            "  a  ",
            "",
            "what's up?",
        ] {
            let mut b = Vec::new();
            canonicalize_bytes_into(t, &mut b);
            assert_eq!(String::from_utf8(b).unwrap(), canonicalize(t));
        }
    }

    canon! {
        plain: "deploy now" => "deploy now";
        case_and_punctuation: "Deploy  the API-gateway!" => "deploy the api gateway";
        apostrophe_kept: "What's up?" => "what's up";
        leading_trailing: "  --hi-- " => "hi";
        unicode: "Ärger ÜBER Straße" => "ärger über straße";
        empty: "" => "";
        only_symbols: "!!! ???" => "";
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    #[test]
    fn byte_and_string_forms_agree_on_odd_text() {
        let pieces = [
            "İ", "\u{212A}", "ẞ", "Σ", "a", "B", " ", "-", "'", "🙂", "é", "\u{0301}", "9", "\n",
        ];
        let mut rng = fastrand::Rng::with_seed(1);
        let mut buf = Vec::new();
        let mut spans = Vec::new();
        for _ in 0..20_000 {
            let m: String = (0..rng.usize(..9))
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            canonicalize_bytes_into(&m, &mut buf);
            let canon = canonicalize(&m);
            assert_eq!(
                std::str::from_utf8(&buf).ok(),
                Some(canon.as_str()),
                "{m:?}"
            );
            assert_words(&m, &mut buf, &mut spans);
        }
    }

    /// Long ASCII text with every byte value, so words cross the 8- and 64-byte
    /// boundaries of the bitmask path.
    #[test]
    fn word_spans_agree_with_canonical_form_on_long_ascii() {
        let mut rng = fastrand::Rng::with_seed(2);
        let (mut buf, mut spans) = (Vec::new(), Vec::new());
        for round in 0..5_000u64 {
            let len = (round * 7) % 300;
            let m: String = (0..len)
                // Mostly letters, so words are long; sometimes any ASCII byte.
                .map(|_| match rng.u8(..10) {
                    0..=5 => rng.lowercase(),
                    6 => rng.uppercase(),
                    _ => char::from(rng.u8(..0x80)),
                })
                .collect();
            assert_words(&m, &mut buf, &mut spans);
        }
        // As many words as bytes allow: one-letter words, one separator each.
        for len in 0..200 {
            let m: String = (0..len)
                .map(|i| if i % 2 == 0 { 'a' } else { ' ' })
                .collect();
            assert_words(&m, &mut buf, &mut spans);
        }
    }

    fn assert_words(m: &str, buf: &mut Vec<u8>, spans: &mut Vec<[u32; 2]>) {
        word_spans_into(m, buf, spans);
        let joined: Vec<&[u8]> = spans
            .iter()
            .map(|&[s, e]| &buf[s as usize..e as usize])
            .collect();
        assert_eq!(joined.join(&b' '), canonicalize(m).into_bytes(), "{m:?}");
        assert!(spans.iter().all(|&[s, e]| s < e), "{m:?}");
    }
}

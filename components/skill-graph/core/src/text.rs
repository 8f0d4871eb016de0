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

/// ASCII byte -> its canonical form: lower case for a word byte, a space for a
/// separator.
const ASCII_SPACED: [u8; 128] = {
    let mut t = [b' '; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'\'' {
            t[b] = c.to_ascii_lowercase();
        }
        b += 1;
    }
    t
};

/// [`canonicalize`] as bytes into a reused buffer (cleared first).
pub fn canonicalize_bytes_into(text: &str, out: &mut Vec<u8>) {
    canonicalize_words_into(text, out, &mut Vec::new());
}

/// [`canonicalize`] as bytes into a reused buffer (cleared first), also writing where
/// each word of the result starts: the router's hot path. ASCII text goes through a
/// branch-free loop (a table lookup and conditional moves per byte), because a branch
/// per word boundary costs a misprediction every few bytes.
pub fn canonicalize_words_into(text: &str, out: &mut Vec<u8>, starts: &mut Vec<u32>) {
    out.clear();
    starts.clear();
    if !text.is_ascii() {
        out.extend_from_slice(canonicalize(text).as_bytes());
        let mut at_start = true;
        for (i, &b) in out.iter().enumerate() {
            if at_start {
                starts.push(i as u32);
            }
            at_start = b == b' ';
        }
        return;
    }
    let bytes = text.as_bytes();
    out.resize(bytes.len() + 1, 0);
    // At most one word per two bytes, plus one slot the loop may write past the end.
    starts.resize(bytes.len() / 2 + 2, 0);
    // Slices, so the compiler knows the stores below cannot touch the vectors' headers.
    let (o, st) = (out.as_mut_slice(), starts.as_mut_slice());
    // `n`: write position; `words`: words started; `after`: 1 right after a word
    // character (a separator is then due before the next word).
    let (mut n, mut words, mut after) = (0usize, 0usize, 0usize);
    let mut step = |b: u8| {
        let c = ASCII_SPACED[usize::from(b & 0x7f)];
        let is_word = usize::from(c != b' ');
        o[n] = c;
        st[words] = n as u32;
        words += is_word & !after;
        n += is_word | after;
        after = is_word;
    };
    // Eight bytes per turn: fewer loop back-edges, each of which costs an interruption
    // check when this runs inside wasmtime.
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        for &b in c {
            step(b);
        }
    }
    for &b in chunks.remainder() {
        step(b);
    }
    if n > 0 && out[n - 1] == b' ' {
        n -= 1;
    }
    out.truncate(n);
    starts.truncate(words);
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
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut buf = Vec::new();
        let mut starts = Vec::new();
        for _ in 0..20_000 {
            let mut m = String::new();
            for _ in 0..(state % 9) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                m.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            canonicalize_bytes_into(&m, &mut buf);
            let canon = canonicalize(&m);
            assert_eq!(
                std::str::from_utf8(&buf).ok(),
                Some(canon.as_str()),
                "{m:?}"
            );
            canonicalize_words_into(&m, &mut buf, &mut starts);
            assert_eq!(
                std::str::from_utf8(&buf).ok(),
                Some(canon.as_str()),
                "{m:?}"
            );
            let want: Vec<u32> = canon
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(|w| (w.as_ptr() as usize - canon.as_ptr() as usize) as u32)
                .collect();
            assert_eq!(starts, want, "{m:?}");
        }
    }
}

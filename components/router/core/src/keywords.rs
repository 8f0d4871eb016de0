//! Finding a graph's keywords in a message: whole words and phrases, every occurrence,
//! with one Aho-Corasick automaton over the canonical phrases.
//!
//! A whole-word match can only begin at a message word that is the first word of some
//! keyword. A small filter over those first words rejects most message words with one
//! load, and the automaton walks (anchored) only from the words that pass: a message is
//! mostly ordinary prose, and walking the automaton from every byte touched far more
//! of its memory than the few keywords in it need.

use aho_corasick::automaton::Automaton;
use aho_corasick::{Anchored, BuildError, MatchKind, StartKind, dfa, nfa};

/// Up to this many bytes of keywords the automaton is a DFA; above, the contiguous NFA,
/// whose compact states stay in cache where a large DFA's table (about 128 bytes per
/// keyword byte) does not.
const DFA_KEYWORD_BYTES: usize = 4 * 1024;

enum Automata {
    Dfa(dfa::DFA),
    Nfa(nfa::contiguous::NFA),
}

/// The keyword automaton and its first-word filter. Pattern ids are the positions of
/// the phrases given to [`KeywordMatcher::build`].
pub(crate) struct KeywordMatcher {
    automaton: Automata,
    first_words: WordFilter,
}

impl KeywordMatcher {
    /// Compiles canonical phrases (lower case, words separated by one space).
    pub(crate) fn build<'a>(
        phrases: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<KeywordMatcher, BuildError> {
        let keyword_bytes: usize = phrases.clone().map(str::len).sum();
        let automaton = if keyword_bytes <= DFA_KEYWORD_BYTES {
            dfa::Builder::new()
                .match_kind(MatchKind::Standard)
                .start_kind(StartKind::Anchored)
                .prefilter(false)
                .build(phrases.clone())
                .map(Automata::Dfa)
        } else {
            nfa::contiguous::NFA::builder()
                .match_kind(MatchKind::Standard)
                .prefilter(false)
                .build(phrases.clone())
                .map(Automata::Nfa)
        }?;
        let first_words = WordFilter::new(phrases.map(|p| {
            let b = p.as_bytes();
            &b[..b.iter().position(|&c| c == b' ').unwrap_or(b.len())]
        }));
        Ok(KeywordMatcher {
            automaton,
            first_words,
        })
    }

    /// Appends every whole-word occurrence in `hay` to `hits` as (end, start, pattern
    /// id), unordered. `words` are the `[start, end)` of the words in `hay`, in order;
    /// the bytes between them (one or more spaces) read as one space.
    pub(crate) fn find(&self, hay: &[u8], words: &[[u32; 2]], hits: &mut Vec<(u32, u32, u32)>) {
        hits.clear();
        for w in 0..words.len() {
            let [start, end] = words[w];
            if !self
                .first_words
                .may_start(&hay[start as usize..end as usize])
            {
                continue;
            }
            let found = |id: u32, end: u32| hits.push((end, start, id));
            match &self.automaton {
                Automata::Dfa(a) => walk(a, hay, &words[w..], found),
                Automata::Nfa(a) => walk(a, hay, &words[w..], found),
            }
        }
    }
}

/// Calls `found(pattern, end)` for every pattern that matches whole words of `hay` from
/// the first of `words` on, shortest first: an anchored walk over the words, one space
/// between them, that stops as soon as no keyword can continue.
#[inline(always)]
fn walk<A: Automaton>(aut: &A, hay: &[u8], words: &[[u32; 2]], mut found: impl FnMut(u32, u32)) {
    let Ok(mut sid) = aut.start_state(Anchored::Yes) else {
        return;
    };
    // Bytes fed so far: a match of this length began at the first word.
    let mut fed = 0usize;
    for (k, &[start, end]) in words.iter().enumerate() {
        if k > 0 {
            // Canonical phrases never end in a space: no match to report here.
            sid = aut.next_state(Anchored::Yes, sid, b' ');
            fed += 1;
            if aut.is_dead(sid) {
                return;
            }
        }
        let word = &hay[start as usize..end as usize];
        for (i, &b) in word.iter().enumerate() {
            sid = aut.next_state(Anchored::Yes, sid, b);
            fed += 1;
            if aut.is_special(sid) {
                if aut.is_dead(sid) {
                    return;
                }
                // Whole words only: a match must end where this word ends.
                if i + 1 == word.len() && aut.is_match(sid) {
                    for m in 0..aut.match_len(sid) {
                        let pid = aut.match_pattern(sid, m);
                        // Only patterns that begin at the first word (not suffixes).
                        if aut.pattern_len(pid) == fed {
                            found(pid.as_u32(), end);
                        }
                    }
                }
            }
        }
    }
}

/// Which words can begin a keyword: a 2^15-bit set (4 KB, it stays in L1) over a cheap
/// key of the word (first two bytes, last byte, length). A message word not in it
/// cannot start a whole-word match; a false positive only costs a walk.
struct WordFilter {
    bits: Vec<u64>,
}

impl WordFilter {
    const BITS: u32 = 15;

    #[inline(always)]
    fn key(word: &[u8]) -> usize {
        let byte = |b: Option<&u8>| u32::from(b.copied().unwrap_or(0));
        let (first, second, last) = (byte(word.first()), byte(word.get(1)), byte(word.last()));
        let h = (first << 24 | second << 16 | last << 8) ^ (word.len() as u32).min(255);
        (h.wrapping_mul(0x9E37_79B1) >> (32 - Self::BITS)) as usize
    }

    fn new<'a>(first_words: impl Iterator<Item = &'a [u8]>) -> WordFilter {
        let mut bits = vec![0u64; (1 << Self::BITS) / 64];
        for w in first_words {
            let k = Self::key(w);
            bits[k / 64] |= 1 << (k % 64);
        }
        WordFilter { bits }
    }

    #[inline(always)]
    fn may_start(&self, word: &[u8]) -> bool {
        let k = Self::key(word);
        self.bits[k / 64] & (1 << (k % 64)) != 0
    }
}

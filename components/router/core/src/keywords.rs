//! Finding a graph's keywords in a message: whole words and phrases, every occurrence,
//! with one Aho-Corasick automaton over the canonical phrases.
//!
//! A whole-word match can only begin at a message word that is the first word of some
//! keyword. A small filter over those first words rejects most message words with one
//! load. For a word that passes, a table gives what an anchored walk of its bytes would
//! find: the keyword that is exactly this word, and the automaton's state after the
//! word and a space when a longer keyword continues. Only then does the automaton walk,
//! into the following words, while some keyword can continue. A message is mostly
//! ordinary prose: walking the automaton from every byte touched far more of its
//! memory than the few keywords in it need, and every byte walked is a dependent load.

use aho_corasick::automaton::{Automaton, StateID};
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
    after_first: FirstWordStates,
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
        let firsts = phrases.map(|p| {
            let b = p.as_bytes();
            &b[..b.iter().position(|&c| c == b' ').unwrap_or(b.len())]
        });
        let first_words = WordFilter::new(firsts.clone());
        let after_first = match &automaton {
            Automata::Dfa(a) => FirstWordStates::new(a, firsts),
            Automata::Nfa(a) => FirstWordStates::new(a, firsts),
        };
        Ok(KeywordMatcher {
            automaton,
            first_words,
            after_first,
        })
    }

    /// Appends every whole-word occurrence in `hay` to `hits` as (end, start, pattern
    /// id), unordered. `words` are the `[start, end)` of the words in `hay`, in order;
    /// the bytes between them (one or more spaces) read as one space.
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn find(&self, hay: &[u8], words: &[[u32; 2]], hits: &mut Vec<(u32, u32, u32)>) {
        hits.clear();
        match &self.automaton {
            Automata::Dfa(a) => self.find_with(a, hay, words, hits),
            Automata::Nfa(a) => self.find_with(a, hay, words, hits),
        }
    }

    #[inline(always)]
    fn find_with<A: Automaton>(
        &self,
        aut: &A,
        hay: &[u8],
        words: &[[u32; 2]],
        hits: &mut Vec<(u32, u32, u32)>,
    ) {
        for w in 0..words.len() {
            let [start, end] = words[w];
            let word = &hay[start as usize..end as usize];
            if !self.first_words.may_start(word) {
                continue;
            }
            // What an anchored walk of the first word would find, looked up instead.
            let Some(first) = self.after_first.get(hay, start as usize, word.len()) else {
                continue;
            };
            if let Some(id) = first.whole {
                hits.push((end, start, id));
            }
            if let Some(sid) = first.then {
                let found = |id: u32, end: u32| hits.push((end, start, id));
                walk_on(aut, hay, &words[w + 1..], sid, word.len() + 1, found);
            }
        }
    }
}

/// Continues an anchored walk in state `sid`, after `fed` bytes ending in a space, over
/// the following `words`, one space between them, calling `found(pattern, end)` for
/// every pattern that began at the walk's first word and ends where a word ends; stops
/// as soon as no keyword can continue.
#[inline(always)]
fn walk_on<A: Automaton>(
    aut: &A,
    hay: &[u8],
    words: &[[u32; 2]],
    mut sid: StateID,
    mut fed: usize,
    mut found: impl FnMut(u32, u32),
) {
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
                if i + 1 == word.len() {
                    for id in begun_at_start(aut, sid, fed) {
                        found(id, end);
                    }
                }
            }
        }
    }
}

/// The patterns that state `sid` matches and that are `fed` bytes long: those that
/// began where the walk did, not shorter suffixes of it.
#[inline(always)]
fn begun_at_start<A: Automaton>(aut: &A, sid: StateID, fed: usize) -> impl Iterator<Item = u32> {
    let matches = if aut.is_match(sid) {
        aut.match_len(sid)
    } else {
        0
    };
    (0..matches)
        .map(move |m| aut.match_pattern(sid, m))
        .filter(move |&pid| aut.pattern_len(pid) == fed)
        .map(|pid| pid.as_u32())
}

/// What an anchored walk of the automaton finds over each distinct first word of a
/// keyword, in an open-addressing table: one hash and usually one probe stand in for
/// a walk of the word's bytes, each a dependent load from the automaton. Words are
/// hashed and compared eight bytes at a time (zero-padded).
struct FirstWordStates {
    /// Power-of-two table of entry index + 1; 0 is empty.
    slots: Vec<u32>,
    entries: Vec<FirstWord>,
    chunks: Vec<u64>,
}

/// One first word of some keyword.
struct FirstWord {
    /// Where the word's chunks start in `FirstWordStates::chunks`.
    chunks_at: u32,
    len: u32,
    /// The keyword that is exactly this word, if any.
    whole: Option<u32>,
    /// The automaton's state after this word and a space, if a longer keyword begins
    /// with them.
    then: Option<StateID>,
}

/// Chunk `i` of `word`: eight bytes, little-endian, zero-padded.
fn chunk(word: &[u8], i: usize) -> u64 {
    let rest = &word[(8 * i).min(word.len())..];
    let mut c = [0u8; 8];
    let n = rest.len().min(8);
    c[..n].copy_from_slice(&rest[..n]);
    u64::from_le_bytes(c)
}

/// [`chunk`] of the word of `len` bytes at `hay[at..]`, loading eight bytes at once
/// when `hay` has them (see `text::WORD_PADDING`) and masking off what follows the word.
#[inline(always)]
fn chunk_in(hay: &[u8], at: usize, len: usize, i: usize) -> u64 {
    match hay.get(at + 8 * i..).and_then(|r| r.first_chunk::<8>()) {
        Some(c) => {
            let v = u64::from_le_bytes(*c);
            match len - 8 * i {
                r @ 1..8 => v & (u64::MAX >> (64 - 8 * r)),
                _ => v,
            }
        }
        None => chunk(&hay[at..at + len], i),
    }
}

impl FirstWordStates {
    fn new<'a, A: Automaton>(aut: &A, words: impl Iterator<Item = &'a [u8]>) -> FirstWordStates {
        let mut distinct: Vec<&[u8]> = words.collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut t = FirstWordStates {
            slots: vec![0; (distinct.len() * 2).next_power_of_two().max(16)],
            entries: Vec::new(),
            chunks: Vec::new(),
        };
        let Ok(start) = aut.start_state(Anchored::Yes) else {
            return t;
        };
        for word in distinct {
            let mut sid = start;
            for &b in word {
                sid = aut.next_state(Anchored::Yes, sid, b);
            }
            if aut.is_dead(sid) {
                continue; // cannot happen: every first word is a keyword prefix
            }
            let whole = begun_at_start(aut, sid, word.len()).next();
            let then = Some(aut.next_state(Anchored::Yes, sid, b' ')).filter(|&s| !aut.is_dead(s));
            let mut slot = t.slot_of(word.len(), |i| chunk(word, i));
            while t.slots[slot] != 0 {
                slot = (slot + 1) & (t.slots.len() - 1);
            }
            t.entries.push(FirstWord {
                chunks_at: t.chunks.len() as u32,
                len: word.len() as u32,
                whole,
                then,
            });
            t.chunks
                .extend((0..word.len().div_ceil(8)).map(|i| chunk(word, i)));
            t.slots[slot] = t.entries.len() as u32;
        }
        t
    }

    /// The table slot for a word whose chunks are `chunks(i)`.
    #[inline(always)]
    fn slot_of(&self, len: usize, chunks: impl Fn(usize) -> u64) -> usize {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut h = (len as u64).wrapping_mul(K);
        for i in 0..len.div_ceil(8) {
            h = (h ^ chunks(i)).wrapping_mul(K).rotate_left(29);
        }
        (h.wrapping_mul(K) >> 32) as usize & (self.slots.len() - 1)
    }

    /// Whether `entry`'s word is the word of the same length at `hay[at..]`.
    #[inline(always)]
    fn holds(&self, entry: &FirstWord, hay: &[u8], at: usize) -> bool {
        let len = entry.len as usize;
        for i in 0..len.div_ceil(8) {
            if self.chunks.get(entry.chunks_at as usize + i) != Some(&chunk_in(hay, at, len, i)) {
                return false;
            }
        }
        true
    }

    /// The entry of the word of `len` bytes at `hay[at..]`, if it begins a keyword.
    #[inline(always)]
    fn get(&self, hay: &[u8], at: usize, len: usize) -> Option<&FirstWord> {
        let mut slot = self.slot_of(len, |i| chunk_in(hay, at, len, i));
        loop {
            let e = *self.slots.get(slot)?;
            if e == 0 {
                return None;
            }
            let entry = &self.entries[e as usize - 1];
            if entry.len as usize == len && self.holds(entry, hay, at) {
                return Some(entry);
            }
            slot = (slot + 1) & (self.slots.len() - 1);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading a word's chunks in place (eight bytes at a time, masked) gives the same
    /// values as copying them out, padded or not.
    #[test]
    fn chunks_in_place_equal_copied_chunks() {
        let text = b"a bb ccc deployment production-ready abcdefgh abcdefghi x";
        let mut padded = text.to_vec();
        padded.extend_from_slice(&[b' '; 8]);
        for at in 0..text.len() {
            for len in 1..=(text.len() - at) {
                let word = &text[at..at + len];
                for i in 0..len.div_ceil(8) {
                    assert_eq!(chunk_in(text, at, len, i), chunk(word, i), "{at} {len} {i}");
                    assert_eq!(chunk_in(&padded, at, len, i), chunk(word, i));
                }
            }
        }
    }
}

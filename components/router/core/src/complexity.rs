//! How much work a message asks for, when the caller does not say.

use agency_skill_graph::Complexity;

/// A cheap guess at how much work a message asks for, from its length and the number of
/// separate asks in it ("and", "then", ...). Takes canonical text.
pub fn estimate_complexity(canonical: &str) -> Complexity {
    let b = canonical.as_bytes();
    let mut starts = Vec::new();
    let mut at_start = true;
    for (i, &c) in b.iter().enumerate() {
        if at_start && c != b' ' {
            starts.push(i as u32);
        }
        at_start = c == b' ';
    }
    of_words(b, &starts)
}

/// [`estimate_complexity`] over canonical text whose word starts are known.
pub(crate) fn of_words(canonical: &[u8], starts: &[u32]) -> Complexity {
    let words = starts.len();
    let mut asks = 0usize;
    for (w, &start) in starts.iter().enumerate() {
        let end = starts
            .get(w + 1)
            .map_or(canonical.len(), |&next| next as usize - 1);
        let word = &canonical[start as usize..end];
        if matches!(word.len(), 3..=5)
            && matches!(word, b"and" | b"then" | b"also" | b"plus" | b"after")
        {
            asks += 1;
        }
    }
    match (words, asks) {
        (w, a) if w > 60 || a >= 4 => Complexity::Complex,
        (w, a) if w > 20 || a >= 2 => Complexity::Moderate,
        _ => Complexity::Simple,
    }
}

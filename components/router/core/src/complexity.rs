//! How much work a message asks for, when the caller does not say.

use agency_skill_graph::Complexity;

/// A cheap guess at how much work a message asks for, from its length and the number of
/// separate asks in it ("and", "then", ...). Takes canonical text.
pub fn estimate_complexity(canonical: &str) -> Complexity {
    let (mut text, mut words) = (Vec::new(), Vec::new());
    agency_skill_graph::text::word_spans_into(canonical, &mut text, &mut words);
    of_words(&text, &words)
}

/// [`estimate_complexity`] over text whose words (`[start, end)`) are known.
pub(crate) fn of_words(text: &[u8], words: &[[u32; 2]]) -> Complexity {
    let mut asks = 0usize;
    for &[start, end] in words {
        let word = &text[start as usize..end as usize];
        if matches!(word.len(), 3..=5)
            && matches!(word, b"and" | b"then" | b"also" | b"plus" | b"after")
        {
            asks += 1;
        }
    }
    match (words.len(), asks) {
        (w, a) if w > 60 || a >= 4 => Complexity::Complex,
        (w, a) if w > 20 || a >= 2 => Complexity::Moderate,
        _ => Complexity::Simple,
    }
}

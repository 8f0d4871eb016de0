//! What a Worker keeps per isolate: a value built from a variable's text (a policy, the
//! webhook settings, the monitoring settings), built once and again only when the text
//! changes.

use std::cell::RefCell;
use std::rc::Rc;

/// A value built from text, kept while the text stays the same. Put one in a
/// `thread_local!` (isolates are single-threaded).
#[derive(Debug)]
pub struct ByText<T>(RefCell<Option<(String, Rc<T>)>>);

impl<T> Default for ByText<T> {
    fn default() -> Self {
        ByText::new()
    }
}

impl<T> ByText<T> {
    pub const fn new() -> Self {
        ByText(RefCell::new(None))
    }

    /// The value for `text`: the kept one when `text` is what it was built from, else
    /// `build(text)`, kept when it succeeds.
    pub fn get<E>(&self, text: &str, build: impl FnOnce(&str) -> Result<T, E>) -> Result<Rc<T>, E> {
        if let Some((_, v)) = self.0.borrow().as_ref().filter(|(t, _)| t == text) {
            return Ok(v.clone());
        }
        let v = Rc::new(build(text)?);
        *self.0.borrow_mut() = Some((text.to_owned(), v.clone()));
        Ok(v)
    }
}

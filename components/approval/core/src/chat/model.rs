//! Free text: what the chat model is asked, and what of its answer is kept (it only
//! ever suggests).

use serde_json::{Value, json};

use super::*;

/// The chat-completions model asked for free text when the deployment names none
/// (`AGENCY_LLM_MODEL`, or the local server's `[llm] model`): one default for every
/// runtime.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

/// The chat-completions `messages` for free text: a system prompt with the pending
/// approvals, the session's history (role, content), then the operator's text.
pub fn model_messages(history: &[(String, String)], pending: &[Value], text: &str) -> Vec<Value> {
    let pending_text = if pending.is_empty() {
        "none".to_owned()
    } else {
        pending.iter().map(describe).collect::<Vec<_>>().join("\n")
    };
    let system = format!(
        "You are the approval assistant of an AI agency. You cannot act yourself. When the operator wants an action, \
         reply with the exact command on its own line as `COMMAND: <command>`; the operator must send it to confirm. {HELP}\n\
         Pending approvals:\n{pending_text}"
    );
    let mut messages = vec![json!({"role": "system", "content": system})];
    messages.extend(
        history
            .iter()
            .map(|(role, content)| json!({"role": role, "content": content})),
    );
    messages.push(json!({"role": "user", "content": text}));
    messages
}

/// The model's answer as a reply: lines `COMMAND: <command>` that parse as commands
/// become suggestions (never actions); the rest is text. An answer is cut at
/// [`crate::contract::MAX_CHAT_CHARS`] characters, like a message to the assistant: it
/// is stored in the session's memory and sent back to the model with every later
/// message, so a runaway model must not grow either.
pub fn model_reply(content: &str) -> Reply {
    let limit = crate::contract::MAX_CHAT_CHARS;
    let content = match content.char_indices().nth(limit) {
        Some((cut, _)) => &content[..cut],
        None => content,
    };
    let mut actions = Vec::new();
    let mut text = String::new();
    for line in content.lines() {
        match line.trim().strip_prefix("COMMAND:") {
            Some(cmd) if !matches!(parse(cmd), Command::Other(_)) => {
                actions.push(json!({"type": "suggested", "command": cmd.trim()}));
                text.push_str(&format!("To do this, send: {}\n", cmd.trim()));
            }
            _ => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    Reply {
        text: text.trim_end().to_owned(),
        actions,
    }
}

/// A chat-completions answer without `choices[0].message.content`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the model's answer has no choices[0].message.content")]
pub struct NoContent;

/// The reply in a chat-completions answer (`choices[0].message.content`), read by
/// [`model_reply`].
pub fn reply_from_completion(answer: &Value) -> Result<Reply, NoContent> {
    answer["choices"][0]["message"]["content"]
        .as_str()
        .map(model_reply)
        .ok_or(NoContent)
}

use std::fmt;

/// One problem in a skill graph, located as precisely as its source allows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GraphError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub message: String,
}

impl GraphError {
    pub fn new(message: impl Into<String>) -> GraphError {
        GraphError {
            file: None,
            line: None,
            message: message.into(),
        }
    }

    pub fn at(
        file: impl Into<String>,
        line: Option<u32>,
        message: impl Into<String>,
    ) -> GraphError {
        GraphError {
            file: Some(file.into()),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for GraphError {
    /// `FILE:LINE: message`, the format editors and CI annotate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: {}", self.message),
            (Some(file), None) => write!(f, "{file}: {}", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for GraphError {}

/// Every problem found in a graph, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphErrors(pub Vec<GraphError>);

impl fmt::Display for GraphErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphErrors {}

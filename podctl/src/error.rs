//! podctl's own errors, those that choose its exit code; everything else is
//! a library's typed error with context added.

/// An error that sets podctl's exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A usage error found after parsing: exit code 2.
    #[error("{0}")]
    Usage(String),
    /// A named thing that does not exist: exit code 3.
    #[error("{0}")]
    NotFound(String),
}

//! One error type for the whole crate: every message says what went wrong and where, because it is what a
//! user sees in the CLI and, through the wasm layer, as a JS `Error`.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The GGUF bytes are malformed: `at` is the byte offset where reading failed.
    #[error("invalid GGUF at byte {at}: {msg}")]
    Gguf { at: u64, msg: String },
    /// A well-formed GGUF that this runtime cannot run (architecture, tensor type, missing tensor).
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    /// The prompt (plus what is asked to be generated) does not fit the context window.
    #[error("context overflow: {0}")]
    Context(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("{0}")]
    Io(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

//! Documents → hits: the [`Library`] (the embedder and the index together, with the one ingest path),
//! the chunker (document formats → sentences → chunks), the MiniLM embedder and the index (BM25, dense,
//! fusion, ANN, persistence).

pub mod chunker;
pub mod embedder;
pub mod format;
pub mod index;
pub mod library;
pub mod passage;
pub mod sources;

pub use library::{Library, RawDocument};
pub use passage::Passage;

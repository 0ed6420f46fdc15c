//! Measurement, not product: perplexity as llama.cpp computes it, retrieval quality on BEIR data, answer
//! quality on SQuAD data, the speed benchmark run natively and in the browser, its kernels against their
//! bound, and synthetic vectors for the ANN scale benchmark.

pub mod beir;
pub mod bench;
pub mod kernels;
pub mod perplexity;
pub mod rag;
pub mod synthetic;
